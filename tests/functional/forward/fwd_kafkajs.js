// SPDX-License-Identifier: BSD-3-Clause
//
// The second independent consumer of the forwarder's tests: kafkajs (pure JavaScript, its
// own protocol code and RecordBatch decoder, no librdkafka), with the pure-JS lz4js and fzstd
// decoders registered for Kafka's LZ4 and ZSTD codecs.
//
//   node fwd_kafkajs.js BOOTSTRAP TOPIC
//
// Reads every partition of TOPIC from its start to the high watermark it had when the read
// began and prints one JSON line per record, in the shape of `kcat -J`:
//   {"partition", "offset", "ts", "key", "payload", "headers": [k, v, ...]}
// keys, values and header values as latin1 strings (null for null). Exit 0, or 1 on error.
'use strict'

const path = require('path')
const nm = path.join(__dirname, '..', 'storage', 'kafkajs', 'node_modules')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require(path.join(nm, 'kafkajs'))
const lz4 = require(path.join(nm, 'lz4js'))
const fzstd = require(path.join(nm, 'fzstd'))

CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: () => { throw new Error('decode only') },
  decompress: async buf => Buffer.from(lz4.decompress(buf))
})
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: () => { throw new Error('decode only') },
  decompress: async buf => Buffer.from(fzstd.decompress(buf))
})

const str = b => (b === null || b === undefined ? null : b.toString('latin1'))

async function main () {
  const [bootstrap, topic] = process.argv.slice(2)
  const kafka = new Kafka({ clientId: 'sluice-fwd-check', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const high = {}
  let pending = 0
  for (const o of offsets) {
    high[o.partition] = Number(o.high)
    if (Number(o.high) > Number(o.low)) pending++
  }
  if (pending === 0) return
  const consumer = kafka.consumer({ groupId: `sluice-fwd-check-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const lines = []
  const done = new Set()
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out reading ' + topic)), 120000)
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const off = Number(message.offset)
        if (off >= high[partition]) return
        const headers = []
        for (const [k, v] of Object.entries(message.headers || {})) {
          for (const x of Array.isArray(v) ? v : [v]) headers.push(k, str(x))
        }
        lines.push(JSON.stringify({
          partition,
          offset: off,
          ts: Number(message.timestamp),
          key: str(message.key),
          payload: str(message.value),
          headers
        }))
        if (off + 1 >= high[partition] && !done.has(partition)) {
          done.add(partition)
          if (done.size === pending) {
            clearTimeout(timer)
            resolve()
          }
        }
      }
    }).catch(reject)
  })
  await consumer.disconnect()
  process.stdout.write(lines.join('\n') + '\n')
}

main().catch(e => {
  console.error('fwd_kafkajs: ' + e.message)
  process.exit(1)
})
