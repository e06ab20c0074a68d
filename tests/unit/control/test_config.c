/* SPDX-License-Identifier: BSD-3-Clause */
/* control/config.c: every key parses, every error class reads file:line: key: reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "sluice_storage.h"

static char tmpdir[] = "/tmp/sluice-test-config-XXXXXX";

/* Lines 1-8; tests append from line 9. */
static const char *base(void)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "# test base; storage.data_dir comes from an override\n"
		 "[port.p0]\n"
		 "device = net_null0\n"
		 "[topic.events]\n"
		 "partitions = 2\n"
		 "[listener.in]\n"
		 "udp_port = 9000\n"
		 "# end of base\n");
	return buf;
}

static struct sluice_config *parse_text(const char *text, bool with_base, int *parse_rc)
{
	struct sluice_config *cfg = sluice_config_new();
	char buf[8192];

	assert_non_null(cfg);
	cfg->online_cpus = 2;
	snprintf(buf, sizeof(buf), "storage.data_dir=%s/data", tmpdir);
	assert_int_equal(sluice_config_override(cfg, buf, 0), 0);
	snprintf(buf, sizeof(buf), "%s%s", with_base ? base() : "", text);
	*parse_rc = sluice_config_parse(cfg, "t.ini", buf, strlen(buf));
	return cfg;
}

/* Parse + validate; returns the config for inspection. */
static struct sluice_config *check(const char *text, int *rc)
{
	int prc;
	struct sluice_config *cfg = parse_text(text, true, &prc);
	int vrc = sluice_config_validate(cfg);
	*rc = prc ? prc : vrc;
	return cfg;
}

static bool has_error(const struct sluice_config *cfg, const char *expect)
{
	for (uint32_t i = 0; i < sluice_config_error_count(cfg); i++)
		if (strstr(sluice_config_error(cfg, i), expect))
			return true;
	return false;
}

/* One bad config: fails, and mentions exactly the expected location and reason. */
static void expect_error(const char *text, const char *expect)
{
	int rc;
	struct sluice_config *cfg = check(text, &rc);

	if (rc != -EINVAL || !has_error(cfg, expect)) {
		fprintf(stderr, "config:\n%s\nexpected error containing: %s\ngot:\n", text, expect);
		sluice_config_print_errors(cfg, stderr);
	}
	assert_int_equal(rc, -EINVAL);
	assert_true(has_error(cfg, expect));
	sluice_config_free(cfg);
}

static void test_base_is_valid(void **state)
{
	int rc;
	struct sluice_config *cfg = check("", &rc);
	struct stat st;

	(void)state;
	if (rc)
		sluice_config_print_errors(cfg, stderr);
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->nports, 1);
	assert_int_equal(cfg->ntopics, 1);
	assert_int_equal(cfg->topics[0].partitions, 2);
	assert_int_equal(cfg->listeners[0].port_index, 0);
	assert_int_equal(cfg->listeners[0].topic_index, 0);
	assert_int_equal(cfg->listeners[0].format, SLUICE_CONFIG_FORMAT_KAFKA);
	/* defaults */
	assert_int_equal(cfg->topics[0].flush_interval_us, 2000);
	assert_int_equal(cfg->topics[0].segment_bytes, 1ull << 30);
	assert_int_equal(cfg->dataplane.linger_us, 1000);
	assert_int_equal(cfg->control.log_level, SLUICE_CONFIG_LOG_INFO);
	assert_string_equal(cfg->control.metrics_addr, "127.0.0.1");
	assert_int_equal(cfg->control.metrics_port, 9464);
	assert_int_equal(cfg->control.socket_gid, (gid_t)-1); /* no socket_group: root only */
	assert_int_equal(cfg->control.health_max_forward_lag_events, 0);
	assert_int_equal(cfg->control.health_max_forward_lag_us, 300 * 1000000ull);
	assert_int_equal(cfg->control.health_min_free_percent, 5);
	assert_string_equal(cfg->eal.lcores_resolved, "0@0,1@1");
	assert_int_equal(cfg->eal.nworker_lcores, 1);
	assert_int_equal(cfg->eal.worker_lcore[0], 1);
	/* validation probes the data dir without creating it */
	assert_int_not_equal(stat(cfg->storage.data_dir, &st), 0);
	sluice_config_free(cfg);
}

/* Where a module also has a default for 0 ("not set"), the config's default is the same. */
static void test_module_defaults(void **state)
{
	int rc;
	struct sluice_config *cfg = check("", &rc);

	(void)state;
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->storage.prealloc_bytes, SLUICE_STORAGE_PREALLOC_BYTES_DEFAULT);
	sluice_config_free(cfg);
}

static void test_values(void **state)
{
	int rc;
	struct sluice_config *cfg = check("[topic.events]\n", &rc);

	(void)state;
	sluice_config_free(cfg);
	cfg = check("[dataplane]\n"
		    "workers = 3\n"
		    "linger = 250us\n"
		    "batch_bytes = 64K\n"
		    "idle_sleep = off\n"
		    "[eal]\n"
		    "lcores = 0@0,(1,2)@(0,1),3@1\n"
		    "memory = no-huge\n"
		    "memory_mb = 1024\n"
		    "[dataplane]\n",
		    &rc);
	/* "[dataplane]" twice is an error; check the rest parsed before it. */
	assert_int_equal(rc, -EINVAL);
	assert_true(has_error(cfg, "t.ini:18: dataplane: duplicate section"));
	assert_int_equal(cfg->dataplane.workers, 3);
	assert_int_equal(cfg->dataplane.linger_us, 250);
	assert_int_equal(cfg->dataplane.batch_bytes, 65536);
	assert_false(cfg->dataplane.idle_sleep);
	assert_int_equal(cfg->eal.memory, SLUICE_CONFIG_MEM_NO_HUGE);
	assert_int_equal(cfg->eal.main_lcore, 0);
	assert_int_equal(cfg->eal.nworker_lcores, 3);
	assert_int_equal(cfg->eal.worker_lcore[2], 3);
	sluice_config_free(cfg);

	cfg = check("[storage]\n", &rc);
	sluice_config_free(cfg);

	cfg = check("[kafka]\n"
		    "brokers = \" 127.0.0.1:9092 \"\n"
		    "linger.ms = 5\n"
		    "; comment\n"
		    "   # indented comment\n"
		    "[listener.raw]\n"
		    "udp_port = 9001\n"
		    "format = raw\n"
		    "key = source_addr\n"
		    "address = 10.0.0.1\n"
		    "[storage]\n",
		    &rc);
	assert_string_equal(cfg->kafka.brokers, " 127.0.0.1:9092 ");
	assert_int_equal(cfg->kafka.nprops, 1);
	assert_string_equal(cfg->kafka.props[0].key, "linger.ms");
	assert_string_equal(cfg->kafka.props[0].value, "5");
	assert_int_equal(cfg->kafka.props[0].line, 11);
	assert_int_equal(cfg->listeners[1].format, SLUICE_CONFIG_FORMAT_RAW);
	assert_int_equal(cfg->listeners[1].key, SLUICE_CONFIG_KEY_SOURCE);
	sluice_config_free(cfg);
}

struct roundtrip {
	struct sluice_config *dst;
	unsigned n;
};

static void roundtrip_cb(const struct sluice_config_item *item, void *arg)
{
	struct roundtrip *rt = arg;
	char assignment[1024], back[1024];

	/* Writing back what get returned must be accepted and give the same text. */
	snprintf(assignment, sizeof(assignment), "%s=%s", item->key, item->value);
	if (sluice_config_override(rt->dst, assignment, rt->n + 1) != 0) {
		sluice_config_print_errors(rt->dst, stderr);
		fail_msg("override %s rejected", assignment);
	}
	assert_int_equal(sluice_config_get(rt->dst, item->key, back, sizeof(back)), 0);
	assert_string_equal(back, item->value);
	rt->n++;
}

/* Every documented key: its default parses, and get/override round-trip. */
static void test_every_key_roundtrips(void **state)
{
	int rc;
	struct sluice_config *cfg = check("", &rc);
	struct roundtrip rt = {.dst = sluice_config_new(), .n = 0};
	unsigned n;

	(void)state;
	assert_int_equal(rc, 0);
	assert_non_null(rt.dst);
	n = sluice_config_foreach(cfg, roundtrip_cb, &rt);
	assert_int_equal(n, rt.n);
	assert_true(n > 50);
	assert_int_equal(sluice_config_error_count(rt.dst), 0);
	sluice_config_free(rt.dst);
	sluice_config_free(cfg);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error("[bogus]\n", "t.ini:9: bogus: unknown section");
	expect_error("[storage\n", "t.ini:9: section: malformed section header");
	expect_error("[storage] x\n", "t.ini:9: section: malformed section header");
	expect_error("[storage]\nwriters\n", "t.ini:10: line: expected 'key = value'");
	expect_error("[storage]\n= 3\n", "t.ini:10: line: missing key before '='");
	expect_error("[storage]\nwriters = 2\nwriters = 3\n",
		     "t.ini:11: writers: set twice in [storage]");
	expect_error("[port.p0]\n", "t.ini:9: port.p0: duplicate section");
	expect_error("[port.bad/name]\n", "t.ini:9: port.bad/name: section name may only");
	expect_error("[kafka]\nbrokers = \"abc\n", "t.ini:10: brokers: unterminated quoted value");
	{
		int rc;
		struct sluice_config *cfg = parse_text("writers = 1\n[storage]\n", false, &rc);
		assert_int_equal(rc, -EINVAL);
		assert_true(has_error(cfg, "t.ini:1: writers: key outside of any section"));
		sluice_config_free(cfg);
	}
	{
		char text[SLUICE_CONFIG_LINE_MAX + 64];
		memset(text, 'x', sizeof(text));
		memcpy(text, "[storage]\n", 10);
		text[sizeof(text) - 2] = '\n';
		text[sizeof(text) - 1] = '\0';
		expect_error(text, "t.ini:10: line: longer than 4096 bytes");
	}
	{
		int rc;
		const char text[] = "[storage]\nwri\0ters = 1\n";
		struct sluice_config *cfg = sluice_config_new();
		rc = sluice_config_parse(cfg, "t.ini", text, sizeof(text) - 1);
		assert_int_equal(rc, -EINVAL);
		assert_true(has_error(cfg, "t.ini:2: line: contains a NUL byte"));
		sluice_config_free(cfg);
	}
}

static void test_value_errors(void **state)
{
	(void)state;
	expect_error("[storage]\nbogus = 1\n", "t.ini:10: storage.bogus: unknown key");
	expect_error("[topic.x]\nbogus = 1\n", "t.ini:10: topic.x.bogus: unknown key");
	expect_error("[storage]\nidle_sleep = maybe\n",
		     "t.ini:10: storage.idle_sleep: 'maybe' is not a boolean");
	expect_error("[storage]\nwriters = 0\n", "t.ini:10: storage.writers: 0 is out of range");
	expect_error("[storage]\nwriters = 65\n", "t.ini:10: storage.writers: 65 is out of range");
	expect_error("[storage]\nwriters = -1\n", "storage.writers: '-1' is not an unsigned");
	expect_error("[storage]\nwriters = 1x\n", "storage.writers: '1x' is not an unsigned");
	expect_error("[storage]\nwriters = 99999999999999999999999\n",
		     "storage.writers: '99999999999999999999999' is not an unsigned");
	expect_error("[storage]\nring_size = 1000\n",
		     "t.ini:10: storage.ring_size: 1000 is not a power of two");
	expect_error("[storage]\nwrite_buffer = 1Q\n",
		     "t.ini:10: storage.write_buffer: unknown size suffix 'Q'");
	expect_error("[storage]\nwrite_buffer = 1K\n",
		     "t.ini:10: storage.write_buffer: '1K' is out of range");
	expect_error("[topic.x]\nsegment_bytes = 17179869184T\n",
		     "t.ini:10: topic.x.segment_bytes: '17179869184T' is too large");
	expect_error("[dataplane]\nlinger = 5\n", "t.ini:10: dataplane.linger: '5' needs a unit");
	expect_error("[dataplane]\nlinger = 2s\n", "t.ini:10: dataplane.linger: '2s' is out of");
	expect_error("[listener.in]\n", "t.ini:9: listener.in: duplicate section");
	expect_error("[listener.x]\nudp_port = 9001\nformat = json\n",
		     "t.ini:11: listener.x.format: 'json' is not one of: kafka, lines, raw");
	expect_error("[listener.x]\nudp_port = 9001\naddress = 10.0.0.256\n",
		     "t.ini:11: listener.x.address: '10.0.0.256' is not an IPv4 or IPv6 address");
	expect_error("[port.p0x]\ndevice = net_null9\nipv4 = ::1\n",
		     "t.ini:11: port.p0x.ipv4: '::1' is not an IPv4 address");
	expect_error("[control]\nmetrics_listen = localhost\n",
		     "t.ini:10: control.metrics_listen: 'localhost' is not an IPv4:port");
	expect_error("[control]\nsocket_group = no-such-group-sluice\n",
		     "t.ini:10: control.socket_group: no such group 'no-such-group-sluice'");
	expect_error("[control]\nhealth_min_free_percent = 101\n",
		     "t.ini:10: control.health_min_free_percent: 101 is out of range");
	expect_error("[storage]\nwriter_cpus = 0,x\n",
		     "t.ini:10: storage.writer_cpus: expected a number at 'x'");
	expect_error("[eal]\nlcores = 0@0,1@(1\n", "t.ini:10: eal.lcores: expected ',' or ')'");
	expect_error("[eal]\nlcores = 0,0\n", "t.ini:10: eal.lcores: lcore 0 appears twice");
	expect_error("[topic.x]\nkafka_topic = a b\n",
		     "t.ini:10: topic.x.kafka_topic: 'a b' may only contain");
	{
		char text[1024];
		snprintf(text, sizeof(text), "[control]\nsocket = /%0200d\n", 0);
		expect_error(text, "t.ini:10: control.socket: value longer than 107 bytes");
	}
}

static void test_semantic_errors(void **state)
{
	int rc;
	struct sluice_config *cfg;

	(void)state;
	/* missing sections */
	cfg = parse_text("[storage]\ndata_dir = /tmp\n", false, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(sluice_config_validate(cfg), -EINVAL);
	assert_true(has_error(cfg, "t.ini: port: no [port.<name>] section"));
	assert_true(has_error(cfg, "t.ini: topic: no [topic.<name>] section"));
	assert_true(has_error(cfg, "t.ini: listener: no [listener.<name>] section"));
	sluice_config_free(cfg);

	expect_error("[port.p1]\nrss = false\n", "t.ini:9: port.p1: missing required key 'device'");
	expect_error("[listener.x]\nformat = raw\n",
		     "t.ini:9: listener.x: missing required key 'udp_port'");
	expect_error("[port.p1]\ndevice = eth0\n",
		     "t.ini:10: port.p1.device: 'eth0' is neither a PCI address");
	expect_error("[port.p1]\ndevice = net_null0\n",
		     "t.ini:10: port.p1.device: 'net_null0' is already used by [port.p0]");
	expect_error("[port.p1]\ndevice = net_null1\n",
		     "t.ini:6: listener.in.port: required: there are 2 ports");
	expect_error("[topic.more]\n", "t.ini:6: listener.in.topic: required: there are 2 topics");
	expect_error("[listener.x]\nudp_port = 9001\nport = nope\n",
		     "t.ini:11: listener.x.port: unknown port 'nope' (no [port.nope] section)");
	expect_error("[listener.x]\nudp_port = 9001\ntopic = nope\n",
		     "t.ini:11: listener.x.topic: unknown topic 'nope'");
	/* overlapping listeners: same UDP port, any address overlaps everything */
	expect_error("[listener.x]\nudp_port = 9000\naddress = 10.1.2.3\n",
		     "t.ini:10: listener.x.udp_port: overlaps [listener.in]: same port 'p0', UDP "
		     "port 9000");
	cfg = check("[listener.x]\nudp_port = 9001\naddress = 10.1.2.3\n"
		    "[listener.y]\nudp_port = 9001\naddress = 10.1.2.4\n",
		    &rc);
	assert_int_equal(rc, 0);
	sluice_config_free(cfg);
	expect_error("[listener.x]\nudp_port = 9001\naddress = 10.1.2.3\n"
		     "[listener.y]\nudp_port = 9001\naddress = 10.1.2.3\n",
		     "t.ini:13: listener.y.udp_port: overlaps [listener.x]");
	expect_error("[listener.x]\nudp_port = 9001\nkey = source_addr\n",
		     "t.ini:11: listener.x.key: kafka batches carry their own keys");
	/* lcores against the machine (online_cpus = 2 in these tests) */
	expect_error("[eal]\nlcores = 0@0,1@5\n",
		     "t.ini:10: eal.lcores: lcore 1: CPU 5 does not exist (this machine has 2 "
		     "online CPUs)");
	expect_error("[eal]\nlcores = 0-2\n", "t.ini:10: eal.lcores: lcore 2: CPU 2 does not");
	expect_error("[eal]\nlcores = 0@0,1@1\n[dataplane]\nworkers = 2\n",
		     "t.ini:12: dataplane.workers: 2 workers need 2 lcores besides the main lcore "
		     "0, eal.lcores '0@0,1@1' has 1");
	/* workers vs queues */
	cfg = parse_text("[dataplane]\nworkers = 2\n", true, &rc);
	assert_int_equal(sluice_config_override(cfg, "port.p0.queues=1", 1), 0);
	assert_int_equal(sluice_config_validate(cfg), -EINVAL);
	assert_true(has_error(cfg,
			      "--set:1: port.p0.queues: more workers (dataplane.workers = 2) "
			      "than queues (1)"));
	sluice_config_free(cfg);
	cfg = check("[dataplane]\nworkers = 2\n", &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg->eal.lcores_resolved, "0@0,1@1,2@0");
	sluice_config_free(cfg);
	expect_error("[storage]\nwriters = 2\nwriter_cpus = 0,7\n",
		     "t.ini:11: storage.writer_cpus: CPU 7 does not exist");
	expect_error("[storage]\nwriters = 2\nwriter_cpus = 1\n",
		     "t.ini:11: storage.writer_cpus: 1 CPUs for 2 writers");
	expect_error("[topic.events]\n", "duplicate section");
	cfg = parse_text("", true, &rc);
	assert_int_equal(sluice_config_override(cfg, "topic.events.flush_bytes=1G", 1), 0);
	assert_int_equal(sluice_config_override(cfg, "topic.events.segment_bytes=16M", 2), 0);
	assert_int_equal(sluice_config_validate(cfg), -EINVAL);
	assert_true(has_error(cfg, "--set:1: topic.events.flush_bytes: larger than segment_bytes"));
	sluice_config_free(cfg);
	expect_error("[eal]\nmemory = no-huge\nmemory_mb = 256\n[dataplane]\nbatch_buffers = "
		     "4096\n",
		     "t.ini:13: dataplane.batch_buffers: batch_buffers x batch_bytes");
}

static int set_immutable(const char *path, bool on)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	int flags, rc = -1;

	if (fd < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
		rc = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
	return rc;
}

static void test_data_dir(void **state)
{
	char path[512];
	FILE *f;

	(void)state;
	/* a regular file in the way */
	snprintf(path, sizeof(path), "%s/file", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	{
		int rc;
		struct sluice_config *cfg = parse_text("", true, &rc);
		char set[600];

		snprintf(set, sizeof(set), "storage.data_dir=%s", path);
		assert_int_equal(sluice_config_override(cfg, set, 1), 0);
		assert_int_equal(sluice_config_validate(cfg), -EINVAL);
		assert_true(has_error(cfg, "--set:1: storage.data_dir: '"));
		assert_true(has_error(cfg, "/file' is not a directory"));
		sluice_config_free(cfg);

		cfg = parse_text("", true, &rc);
		snprintf(set, sizeof(set), "storage.data_dir=%s/sub/dir", path);
		assert_int_equal(sluice_config_override(cfg, set, 1), 0);
		assert_int_equal(sluice_config_validate(cfg), -EINVAL);
		assert_true(has_error(cfg, "--set:1: storage.data_dir: cannot create '"));
		assert_true(has_error(cfg, "a component of the path is not a directory"));
		sluice_config_free(cfg);

		/* An immutable directory refuses new files even to root (ext4, as in CI). */
		snprintf(path, sizeof(path), "%s/ro", tmpdir);
		assert_int_equal(mkdir(path, 0755), 0);
		if (set_immutable(path, true) == 0) {
			cfg = parse_text("", true, &rc);
			snprintf(set, sizeof(set), "storage.data_dir=%s/ro/data", tmpdir);
			assert_int_equal(sluice_config_override(cfg, set, 1), 0);
			assert_int_equal(sluice_config_validate(cfg), -EINVAL);
			assert_true(has_error(cfg, "--set:1: storage.data_dir: cannot create '"));
			assert_true(has_error(cfg, "/ro: Operation not permitted"));
			sluice_config_free(cfg);

			cfg = parse_text("", true, &rc);
			snprintf(set, sizeof(set), "storage.data_dir=%s/ro", tmpdir);
			assert_int_equal(sluice_config_override(cfg, set, 1), 0);
			assert_int_equal(sluice_config_validate(cfg), -EINVAL);
			assert_true(
				has_error(cfg, "/ro' is not writable: Operation not permitted"));
			sluice_config_free(cfg);
			set_immutable(path, false);
		} else {
			fprintf(stderr,
				"# immutable flag unsupported here; read-only case not run\n");
		}
		rmdir(path);
		snprintf(path, sizeof(path), "%s/file", tmpdir);

		/* an existing, writable directory: fine, and nothing is left in it */
		cfg = parse_text("", true, &rc);
		snprintf(set, sizeof(set), "storage.data_dir=%s", tmpdir);
		assert_int_equal(sluice_config_override(cfg, set, 1), 0);
		assert_int_equal(sluice_config_validate(cfg), 0);
		sluice_config_free(cfg);
	}
	unlink(path);
}

static void test_kafka_passthrough(void **state)
{
	int rc;
	struct sluice_config *cfg;

	(void)state;
	cfg = check("[kafka]\nrequest.timeout.ms = 5000\nsecurity.protocol = SSL\n", &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->kafka.nprops, 2);
	sluice_config_free(cfg);
	expect_error("[kafka]\nrequest.timeout.ms = soon\n",
		     "t.ini:10: kafka.request.timeout.ms: ");
	expect_error("[kafka]\nno.such.property = 1\n",
		     "t.ini:10: kafka.no.such.property: unknown key (not a setting of sluice's "
		     "Kafka client");
	/* The keys that carry exactly-once are sluice's, whatever the value. */
	expect_error("[kafka]\nacks = 1\n", "t.ini:10: kafka.acks: set by sluice for exactly-once");
	expect_error("[kafka]\nenable.idempotence = false\n",
		     "t.ini:10: kafka.enable.idempotence: set by sluice");
	expect_error("[kafka]\nbrokrs = x\n", "t.ini:10: kafka.brokrs: unknown key");
	/* A combination: reported at the line of the setting it hinges on. */
	expect_error("[kafka]\nsecurity.protocol = sasl_ssl\n",
		     "t.ini:10: kafka: security.protocol sasl_ssl needs sasl.mechanism");
	cfg = parse_text("", true, &rc);
	assert_int_equal(sluice_config_override(cfg, "kafka.retry.backoff.ms=7", 1), 0);
	assert_int_equal(sluice_config_override(cfg, "kafka.brokers=127.0.0.1:1", 2), 0);
	assert_int_equal(sluice_config_validate(cfg), 0);
	assert_string_equal(cfg->kafka.props[0].key, "retry.backoff.ms");
	assert_string_equal(cfg->kafka.props[0].value, "7");
	assert_string_equal(cfg->kafka.brokers, "127.0.0.1:1");
	assert_int_equal(sluice_config_override(cfg, "kafka.batch.size=x", 3), 0);
	assert_int_equal(sluice_config_validate(cfg), -EINVAL);
	assert_true(has_error(cfg, "--set:3: kafka.batch.size: "));
	sluice_config_free(cfg);
}

struct secret_scan {
	unsigned items, secrets;
	bool leaked;
};

static void secret_cb(const struct sluice_config_item *item, void *arg)
{
	struct secret_scan *sc = arg;

	sc->items++;
	if (item->secret) {
		sc->secrets++;
		assert_string_equal(item->value, "***");
	}
	if (strstr(item->value, "hunter2"))
		sc->leaked = true;
	assert_non_null(item->section);
}

/* One rule says what is a secret; get and list show it as ***, and get answers for every
 * kafka.* property that list shows. */
static void test_secrets(void **state)
{
	static const char *const secret[] = {
		"kafka.sasl.password",
		"kafka.ssl.key.password",
		"kafka.ssl.keystore.password",
		"kafka.ssl.key.pem",
		"kafka.sasl.oauthbearer.config",
		"kafka.SASL.Password",
		"kafka.sasl.oauthbearer.client.secret",
		"kafka.ssl_key",
		"kafka.sasl.jaas.config",
	};
	static const char *const plain[] = {"kafka.sasl.username",  "kafka.ssl.key.location",
					    "kafka.linger.ms",      "kafka.brokers",
					    "control.socket_group", "kafka.ssl.certificate.pem"};
	struct secret_scan sc = {0};
	struct sluice_config *cfg;
	char v[256], err[256];
	int rc;

	(void)state;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		assert_true(sluice_config_key_is_secret(secret[i]));
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		assert_false(sluice_config_key_is_secret(plain[i]));
	cfg = check("[kafka]\nsasl.password = hunter2\nsasl.username = ann\n"
		    "ssl.key.password = hunter2\n",
		    &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(sluice_config_get(cfg, "kafka.sasl.password", v, sizeof(v)), 0);
	assert_string_equal(v, "***");
	assert_int_equal(sluice_config_get(cfg, "kafka.sasl.username", v, sizeof(v)), 0);
	assert_string_equal(v, "ann");
	assert_int_equal(sluice_config_get(cfg, "kafka.sasl.mechanism", v, sizeof(v)), -ENOENT);
	assert_int_equal(sluice_config_set(cfg, "kafka.sasl.password", "x", err, sizeof(err)),
			 -EPERM);
	sluice_config_foreach(cfg, secret_cb, &sc);
	assert_int_equal(sc.secrets, 2);
	assert_false(sc.leaked);
	assert_true(sc.items > 50);
	sluice_config_free(cfg);
	/* librdkafka's reason may quote a value: a secret's is cut out. */
	cfg = check("[kafka]\nbrokers = 127.0.0.1:9\nssl.key.password = hunter2\n"
		    "max.in.flight.requests.per.connection = 9\n",
		    &rc);
	assert_int_equal(rc, -EINVAL);
	for (uint32_t i = 0; i < sluice_config_error_count(cfg); i++)
		assert_null(strstr(sluice_config_error(cfg, i), "hunter2"));
	sluice_config_free(cfg);
}

/* Forwarding is off unless brokers are named; embedded must be asked for. */
static void test_forwarding_mode(void **state)
{
	struct sluice_config *cfg;
	int rc;

	(void)state;
	cfg = check("", &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg->kafka.brokers, "");
	assert_int_equal(sluice_config_forwarding(cfg), SLUICE_CONFIG_FORWARD_OFF);
	assert_string_equal(sluice_config_forwarding_name(sluice_config_forwarding(cfg)), "off");
	sluice_config_free(cfg);
	cfg = check("[kafka]\nbrokers = embedded\n", &rc);
	assert_int_equal(sluice_config_forwarding(cfg), SLUICE_CONFIG_FORWARD_EMBEDDED);
	sluice_config_free(cfg);
	cfg = check("[kafka]\nbrokers = k1:9092\n", &rc);
	assert_int_equal(sluice_config_forwarding(cfg), SLUICE_CONFIG_FORWARD_KAFKA);
	sluice_config_free(cfg);
	cfg = check("[kafka]\nbrokers = k1:9092\nenabled = false\n", &rc);
	assert_int_equal(sluice_config_forwarding(cfg), SLUICE_CONFIG_FORWARD_OFF);
	sluice_config_free(cfg);
	/* Owned keys are refused whether or not forwarding is on. */
	expect_error("[kafka]\nrequest.required.acks = 1\n",
		     "t.ini:10: kafka.request.required.acks: set by sluice for exactly-once");
	expect_error("[control]\nadmin_group = no-such-group-here\n",
		     "t.ini:10: control.admin_group: no such group 'no-such-group-here'");
	cfg = check("[control]\nadmin_group = root\n", &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(cfg->control.admin_gid, 0);
	assert_int_equal(cfg->control.socket_gid, (gid_t)-1);
	sluice_config_free(cfg);
}

/* Checks that used to wait for start (EAL, pools, storage): refused, and their edges pass. */
static void test_start_checks(void **state)
{
	char many[600] = "[eal]\nargs =";
	struct sluice_config *cfg;
	int rc;

	(void)state;
	for (int i = 0; i < 63; i++)
		strcat(many, " a");
	strcat(many, "\n");
	expect_error(many, "t.ini:10: eal.args: 63 arguments, at most 62");
	expect_error("[eal]\nargs = -m512\n", "t.ini:10: eal.args: '-m512' is set by sluiced");
	expect_error("[eal]\nargs = --vdev=net_null9\n", "t.ini:10: eal.args: '--vdev=net_null9'");
	expect_error("[eal]\nlog_level = 9x\n", "t.ini:10: eal.log_level: '9x' is not a level");
	expect_error("[dataplane]\nmbufs = 1663\n", "t.ini:10: dataplane.mbufs: 1663 cannot fill");
	cfg = check("[eal]\nlog_level = lib.*:err\nargs = --no-shconf\n[dataplane]\nmbufs = 1664\n"
		    "[storage]\nwrite_buffer = 260K\n",
		    &rc);
	if (rc)
		sluice_config_print_errors(cfg, stderr);
	assert_int_equal(rc, 0);
	sluice_config_free(cfg);
	expect_error("[storage]\nwrite_buffer = 259K\n",
		     "t.ini:10: storage.write_buffer: 265216 bytes cannot hold a batch");
}

/* Two listeners on one UDP port on two ports are fine (each hears its own port). */
static void test_listeners_on_two_ports(void **state)
{
	static const char *const two = "[port.p1]\ndevice = net_null1\n[listener.in2]\n"
				       "port = p1\nudp_port = 9000\n";
	struct sluice_config *cfg;
	int rc;

	(void)state;
	/* listener.in names no port and there are two now: that is the only error. */
	cfg = check(two, &rc);
	assert_int_equal(sluice_config_error_count(cfg), 1);
	assert_true(has_error(cfg, "listener.in.port: required: there are 2 ports"));
	sluice_config_free(cfg);
	cfg = parse_text(two, true, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(sluice_config_override(cfg, "listener.in.port=p0", 1), 0);
	assert_int_equal(sluice_config_validate(cfg), 0);
	assert_int_equal(cfg->listeners[0].port_index, 0);
	assert_int_equal(cfg->listeners[1].port_index, 1);
	sluice_config_free(cfg);
}

static void test_overrides(void **state)
{
	int rc;
	struct sluice_config *cfg = parse_text("", true, &rc);

	(void)state;
	assert_int_equal(sluice_config_override(cfg, "storage.writers=2", 1), 0);
	assert_int_equal(cfg->storage.writers, 2);
	assert_int_equal(sluice_config_override(cfg, "topic.more.partitions = 4", 2), 0);
	assert_int_equal(cfg->ntopics, 2);
	assert_int_equal(cfg->topics[1].partitions, 4);
	assert_int_equal(cfg->topics[1].flush_interval_us, 2000); /* defaults applied */
	assert_int_equal(sluice_config_override(cfg, "listener.in.topic=more", 3), 0);
	assert_int_equal(sluice_config_validate(cfg), 0);
	assert_int_equal(cfg->listeners[0].topic_index, 1);

	assert_int_equal(sluice_config_override(cfg, "storage.writers", 4), -EINVAL);
	assert_true(has_error(cfg, "--set:4: storage.writers: expected section.key=value"));
	assert_int_equal(sluice_config_override(cfg, "nope.x=1", 5), -EINVAL);
	assert_true(has_error(cfg, "--set:5: nope: unknown section"));
	assert_int_equal(sluice_config_override(cfg, "storage.nope=1", 6), -EINVAL);
	assert_true(has_error(cfg, "--set:6: storage.nope: unknown key"));
	assert_int_equal(sluice_config_override(cfg, "storage.writers=x", 7), -EINVAL);
	assert_true(has_error(cfg, "--set:7: storage.writers: 'x' is not an unsigned integer"));
	assert_int_equal(cfg->storage.writers, 2);
	sluice_config_free(cfg);
}

static void test_runtime_set(void **state)
{
	int rc;
	struct sluice_config *cfg = check("", &rc);
	char err[256], val[64];

	(void)state;
	assert_int_equal(rc, 0);
	assert_int_equal(sluice_config_is_runtime("dataplane.linger"), 1);
	assert_int_equal(sluice_config_is_runtime("storage.writers"), 0);
	assert_int_equal(sluice_config_is_runtime("storage.nope"), -ENOENT);
	assert_int_equal(sluice_config_is_runtime("topic.anything.flush_interval"), 0);
	assert_int_equal(sluice_config_is_runtime("kafka.inflight_max_msgs"), 1);

	assert_int_equal(sluice_config_set(cfg, "dataplane.linger", "5ms", err, sizeof(err)), 0);
	assert_int_equal(cfg->dataplane.linger_us, 5000);
	assert_int_equal(sluice_config_get(cfg, "dataplane.linger", val, sizeof(val)), 0);
	assert_string_equal(val, "5ms");
	assert_int_equal(sluice_config_set(cfg, "dataplane.linger", "5", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "needs a unit"));
	assert_int_equal(cfg->dataplane.linger_us, 5000);
	assert_int_equal(sluice_config_set(cfg, "storage.writers", "3", err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "cannot change at runtime"));
	assert_int_equal(sluice_config_set(cfg, "storage.nope", "3", err, sizeof(err)), -ENOENT);
	assert_int_equal(sluice_config_set(cfg, "kafka.inflight_max_bytes", "1M", err, sizeof(err)),
			 0);
	assert_int_equal(cfg->kafka.inflight_max_bytes, 1 << 20);
	assert_int_equal(
		sluice_config_set(cfg, "topic.events.flush_interval", "10ms", err, sizeof(err)),
		-EPERM);
	assert_int_equal(
		sluice_config_set(cfg, "topic.nope.flush_interval", "10ms", err, sizeof(err)),
		-ENOENT);
	assert_int_equal(sluice_config_set(cfg, "control.log_level", "debug", err, sizeof(err)), 0);
	assert_int_equal(cfg->control.log_level, SLUICE_CONFIG_LOG_DEBUG);
	assert_int_equal(sluice_config_get(cfg, "control.log_level", val, sizeof(val)), 0);
	assert_string_equal(val, "debug");
	assert_int_equal(sluice_config_get(cfg, "control.socket", val, 4), -ENOSPC);
	sluice_config_free(cfg);
}

static void test_many_errors_at_once(void **state)
{
	int rc;
	struct sluice_config *cfg = check("[storage]\nwriters = 0\nring_size = 3\n"
					  "[dataplane]\nburst = 0\n",
					  &rc);

	(void)state;
	assert_int_equal(rc, -EINVAL);
	assert_true(has_error(cfg, "t.ini:10: storage.writers: 0 is out of range"));
	assert_true(has_error(cfg, "t.ini:11: storage.ring_size: 3 is out of range"));
	assert_true(has_error(cfg, "t.ini:13: dataplane.burst: 0 is out of range"));
	assert_int_equal(sluice_config_error_count(cfg), 3);
	sluice_config_free(cfg);
}

static void test_docs_match_tables(void **state)
{
	const char *root = getenv("SLUICE_SOURCE_ROOT");
	char path[1024];
	char *generated = NULL, *committed;
	size_t glen = 0;
	FILE *mem, *f;
	long flen;

	(void)state;
	if (!root)
		skip();
	mem = open_memstream(&generated, &glen);
	assert_non_null(mem);
	sluice_config_help(mem, SLUICE_CONFIG_HELP_MARKDOWN);
	fclose(mem);
	snprintf(path, sizeof(path), "%s/docs/configuration.md", root);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("%s missing: sluiced --help-config=markdown > docs/configuration.md",
			 path);
	fseek(f, 0, SEEK_END);
	flen = ftell(f);
	fseek(f, 0, SEEK_SET);
	committed = calloc(1, (size_t)flen + 1);
	assert_non_null(committed);
	assert_int_equal(fread(committed, 1, (size_t)flen, f), (size_t)flen);
	fclose(f);
	if (strcmp(committed, generated) != 0)
		fail_msg("docs/configuration.md is stale: regenerate it with "
			 "`sluiced --help-config=markdown > docs/configuration.md`");
	free(committed);
	free(generated);
}

static void test_help_text(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	(void)state;
	sluice_config_help(mem, SLUICE_CONFIG_HELP_TEXT);
	fclose(mem);
	assert_non_null(strstr(text, "[topic.<name>]"));
	assert_non_null(strstr(text, "flush_interval"));
	free(text);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/data", tmpdir);
	rmdir(path);
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_is_valid),
		cmocka_unit_test(test_module_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_every_key_roundtrips),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_semantic_errors),
		cmocka_unit_test(test_data_dir),
		cmocka_unit_test(test_kafka_passthrough),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_forwarding_mode),
		cmocka_unit_test(test_listeners_on_two_ports),
		cmocka_unit_test(test_start_checks),
		cmocka_unit_test(test_overrides),
		cmocka_unit_test(test_runtime_set),
		cmocka_unit_test(test_many_errors_at_once),
		cmocka_unit_test(test_docs_match_tables),
		cmocka_unit_test(test_help_text),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
