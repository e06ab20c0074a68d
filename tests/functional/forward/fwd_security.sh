#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# TLS and SASL against independent server code: kafka_proxy.py (Python's ssl and hashlib) in
# front of the mock broker terminates TLS and runs SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512.
# The forwarder sends through it with librdkafka's key names (security.protocol,
# sasl.mechanism, sasl.username, sasl.password, ssl.ca.location); what lands is checked by
# content from the broker's plaintext side. A CA that did not sign the broker's certificate,
# and a wrong password, forward nothing and say why.
. "$(dirname "$0")/fwd_lib.sh"

mock_start events:2
PROXY=$SRC/kafka_proxy.py
# A CA and a broker certificate for 127.0.0.1 (the address the client checks), and an
# unrelated CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=test-ca -keyout "$TMP/ca.key" \
	-out "$TMP/ca.pem" >/dev/null 2>&1 || fail "CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=broker -keyout "$TMP/broker.key" \
	-out "$TMP/broker.csr" >/dev/null 2>&1 || fail "CSR"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$TMP/ext.cnf"
openssl x509 -req -in "$TMP/broker.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
	-CAcreateserial -days 2 -extfile "$TMP/ext.cnf" -out "$TMP/broker.pem" >/dev/null 2>&1 ||
	fail "broker certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=other-ca -keyout "$TMP/other.key" \
	-out "$TMP/other.pem" >/dev/null 2>&1 || fail "other CA"

# proxy NAME ARGS...: start kafka_proxy.py, PROXY_ADDR set
proxy() {
	local name=$1 i
	shift
	python3 "$PROXY" "$BOOTSTRAP" "$@" >"$TMP/$name.addr" 2>"$TMP/$name.perr" &
	PIDS+=("$!")
	for i in $(seq 50); do
		[ -s "$TMP/$name.addr" ] && break
		sleep 0.1
	done
	PROXY_ADDR=$(head -1 "$TMP/$name.addr")
	[ -n "$PROXY_ADDR" ] || fail "proxy $name: $(cat "$TMP/$name.perr")"
}

D=$TMP/log
total=0
# run NAME EXPECT(ok|fail) PROXY_ARGS -- CLIENT_SETTINGS...
run() {
	local name=$1 expect=$2 args=() conf=()
	shift 2
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	for c in "$@"; do conf+=(-c "$c"); done
	proxy "$name" "${args[@]}"
	"$DRIVER" append -d "$D" -P 2 -n 300 -v 50 || fail "append"
	if [ "$expect" = ok ]; then
		total=$((total + 300))
		"$DRIVER" forward -d "$D" -P 2 -b "$PROXY_ADDR" -w -t 30 "${conf[@]}" \
			>"$TMP/$name.txt" 2>"$TMP/$name.err" || fail "$name: $(tail -3 "$TMP/$name.err")"
		check events "$D" 2 --min "$total" >/dev/null
		echo "$name: $(last "$TMP/$name.txt" | cut -d' ' -f3-6)"
	else
		"$DRIVER" forward -d "$D" -P 2 -b "$PROXY_ADDR" -t 3 "${conf[@]}" \
			>"$TMP/$name.txt" 2>"$TMP/$name.err" || fail "$name: driver failed"
		[ "$(field delivered "$(last "$TMP/$name.txt")")" = 0 ] || fail "$name: records went through"
		echo "$name: refused as expected"
	fi
}

run tls ok --tls "$TMP/broker.pem" "$TMP/broker.key" -- \
	security.protocol=ssl "ssl.ca.location=$TMP/ca.pem"
run tls_wrong_ca fail --tls "$TMP/broker.pem" "$TMP/broker.key" -- \
	security.protocol=SSL "ssl.ca.location=$TMP/other.pem"
grep -q 'TLS handshake: .*certificate verify failed' "$TMP/tls_wrong_ca.err" ||
	fail "the wrong CA is not reported: $(cat "$TMP/tls_wrong_ca.err")"
# The forwarder resumes what the refused run could not send.
total=$((total + 300))
run scram256 ok --tls "$TMP/broker.pem" "$TMP/broker.key" --sasl SCRAM-SHA-256 alice s3cr3t -- \
	security.protocol=sasl_ssl "ssl.ca.location=$TMP/ca.pem" sasl.mechanism=SCRAM-SHA-256 \
	sasl.username=alice sasl.password=s3cr3t
run scram512 ok --sasl SCRAM-SHA-512 bob 'pa ss,=word' -- \
	security.protocol=sasl_plaintext sasl.mechanisms=SCRAM-SHA-512 sasl.username=bob \
	'sasl.password=pa ss,=word'
run plain ok --tls "$TMP/broker.pem" "$TMP/broker.key" --sasl PLAIN carol pw -- \
	security.protocol=SASL_SSL "ssl.ca.location=$TMP/ca.pem" sasl.mechanism=PLAIN \
	sasl.username=carol sasl.password=pw
run wrong_password fail --sasl SCRAM-SHA-256 alice s3cr3t -- \
	security.protocol=sasl_plaintext sasl.mechanism=SCRAM-SHA-256 sasl.username=alice \
	sasl.password=guess
grep -q 'SASL SCRAM-SHA-256 authentication failed: SASL_AUTHENTICATION_FAILED' \
	"$TMP/wrong_password.err" || fail "the wrong password is not reported"
total=$((total + 300))
run scram256_again ok --sasl SCRAM-SHA-256 alice s3cr3t -- \
	security.protocol=sasl_plaintext sasl.mechanism=SCRAM-SHA-256 sasl.username=alice \
	sasl.password=s3cr3t
grep -h 's3cr3t\|pa ss,=word' "$TMP"/*.err && fail "a password was logged"
check events "$D" 2 --min "$total"
echo "PASS"
