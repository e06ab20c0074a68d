#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Cross-check our RecordBatch v2 code with an independent implementation, kafkajs (pure JS):
#  1. our builder writes random batches; kafkajs decodes them and compares every field
#     (offsets, timestamps, null/empty keys, values, headers, producer id/epoch/sequence) and
#     verifies each CRC32C with its own CRC code;
#  2. kafkajs encodes random batches; our validator accepts them and our iterator returns
#     the same fields.
# Usage: record_kafkajs.sh <record_kafkajs_tool> ; SLUICE_SEED=<n> reproduces a run.
set -euo pipefail
tool=$1
src=${SLUICE_SOURCE_ROOT:-$(cd "$(dirname "$0")/../../.." && pwd)}
js=$src/tests/functional/storage/kafkajs
if ! command -v node >/dev/null || [ ! -d "$js/node_modules/kafkajs" ]; then
	echo "record_kafkajs: node or kafkajs missing: run tools/install-deps.sh" >&2
	exit 1
fi
seed=${SLUICE_SEED:-$(date +%s)}
echo "record_kafkajs: seed $seed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$tool" write "$tmp/ours.bin" "$tmp/ours.json" "$seed"
node "$js/record_kafkajs.js" decode "$tmp/ours.bin" "$tmp/ours.json"
node "$js/record_kafkajs.js" encode "$tmp/theirs.bin" "$tmp/theirs.json" "$seed"
"$tool" check "$tmp/theirs.bin" "$tmp/theirs.json"
