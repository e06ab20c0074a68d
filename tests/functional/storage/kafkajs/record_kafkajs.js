// SPDX-License-Identifier: BSD-3-Clause
//
// The independent side of record_kafkajs.sh: kafkajs's own RecordBatch v2 decoder and encoder
// (pure JavaScript, no librdkafka), used to check sluice's builder and validator.
//
//   node record_kafkajs.js decode <batches.bin> <expected.json>
//       decode batches that sluice built and compare every field with what sluice says it
//       put in them; the CRC is checked with kafkajs's CRC32C (its decoder does not check it).
//   node record_kafkajs.js encode <batches.bin> <expected.json> [seed]
//       encode random batches with kafkajs and write what they hold for sluice to check.
//
// Exit 0 when everything matches, 1 otherwise.
'use strict'

const fs = require('fs')
const Decoder = require('kafkajs/src/protocol/decoder')
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder')
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0')
const Record = require('kafkajs/src/protocol/recordBatch/record/v0')
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C')
const Long = require('kafkajs/src/utils/long')

let mismatches = 0
function expect (cond, what) {
  if (!cond) {
    mismatches++
    if (mismatches <= 20) console.error('MISMATCH: ' + what)
  }
}

const hex = b => (b === null || b === undefined ? null : b.toString('hex'))

// kafkajs folds headers into an object: duplicate keys become arrays, in order. Fold the
// expected [key, value] list the same way, then compare key by key.
function foldHeaders (list) {
  const obj = {}
  for (const [k, v] of list) {
    if (obj[k] === undefined) obj[k] = v
    else if (Array.isArray(obj[k])) obj[k].push(v)
    else obj[k] = [obj[k], v]
  }
  return obj
}

function sameHeaders (got, list, where) {
  const want = foldHeaders(list)
  const gk = Object.keys(got).sort()
  const wk = Object.keys(want).sort()
  expect(JSON.stringify(gk) === JSON.stringify(wk), `${where} header keys ${gk} vs ${wk}`)
  for (const k of wk) {
    const g = got[k]
    const w = want[k]
    const gl = Array.isArray(g) ? g.map(hex) : [hex(g)]
    const wl = Array.isArray(w) ? w : [w]
    expect(JSON.stringify(gl) === JSON.stringify(wl), `${where} header ${k}`)
  }
}

async function decode (bin, jsonPath) {
  const buf = fs.readFileSync(bin)
  const want = JSON.parse(fs.readFileSync(jsonPath, 'utf8')).batches
  const decoder = new Decoder(buf)
  let pos = 0
  let records = 0
  for (let bi = 0; bi < want.length; bi++) {
    const w = want[bi]
    const where = `batch ${bi}`
    const length = buf.readInt32BE(pos + 8)
    const end = pos + 12 + length
    // Fixed fields kafkajs's decoder does not return, read from the bytes it walks.
    expect(buf.readInt8(pos + 16) === 2, `${where} magic`)
    const crc = buf.readUInt32BE(pos + 17)
    expect(crc === w.crc, `${where} crc field ${crc} vs ${w.crc}`)
    expect(crc32C(buf.subarray(pos + 21, end)) === crc, `${where} CRC32C does not verify`)
    expect(length === w.batchLength, `${where} batchLength`)
    expect(buf.readInt16BE(pos + 21) === w.attributes, `${where} attributes`)

    const b = await decodeBatch(decoder)
    expect(b.firstOffset === w.baseOffset, `${where} baseOffset ${b.firstOffset} vs ${w.baseOffset}`)
    expect(b.partitionLeaderEpoch === w.partitionLeaderEpoch, `${where} partitionLeaderEpoch`)
    expect(b.lastOffsetDelta === w.lastOffsetDelta, `${where} lastOffsetDelta`)
    expect(b.firstTimestamp === w.baseTimestamp, `${where} baseTimestamp`)
    expect(b.maxTimestamp === w.maxTimestamp, `${where} maxTimestamp`)
    expect(b.producerId === w.producerId, `${where} producerId ${b.producerId} vs ${w.producerId}`)
    expect(b.producerEpoch === w.producerEpoch, `${where} producerEpoch`)
    expect(b.firstSequence === w.baseSequence, `${where} baseSequence`)
    expect(b.inTransaction === ((w.attributes & 0x10) !== 0), `${where} transactional`)
    expect(b.records.length === w.records.length, `${where} record count ${b.records.length} vs ${w.records.length}`)
    for (let ri = 0; ri < Math.min(b.records.length, w.records.length); ri++) {
      const r = b.records[ri]
      const wr = w.records[ri]
      const rw = `${where} record ${ri}`
      expect(r.offset === wr.offset, `${rw} offset ${r.offset} vs ${wr.offset}`)
      expect(r.timestamp === wr.timestamp, `${rw} timestamp ${r.timestamp} vs ${wr.timestamp}`)
      expect(hex(r.key) === wr.key, `${rw} key`)
      expect(hex(r.value) === wr.value, `${rw} value`)
      sameHeaders(r.headers, wr.headers, rw)
      records++
    }
    pos = end
    expect(decoder.offset === pos, `${where} decoder at ${decoder.offset}, expected ${pos}`)
  }
  expect(pos === buf.length, `consumed ${pos} of ${buf.length} bytes`)
  console.log(`kafkajs decoded ${want.length} sluice batches, ${records} records, ${mismatches} mismatches`)
}

// xorshift32: deterministic, so a failure reproduces with its seed.
function rng (seed) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13; s >>>= 0
    s ^= s >>> 17
    s ^= s << 5; s >>>= 0
    return s
  }
}

async function encode (bin, jsonPath, seed) {
  const rnd = rng(seed)
  const bytes = n => {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = rnd() & 0xff
    return b
  }
  const out = []
  const batches = []
  let offset = Long.fromValue('123456789012')
  for (let bi = 0; bi < 40; bi++) {
    const n = 1 + (rnd() % 30)
    const firstTimestamp = Long.fromValue(1700000000000 + (rnd() % 1000000))
    let maxTimestamp = firstTimestamp
    const encoded = []
    const recs = []
    for (let ri = 0; ri < n; ri++) {
      const pick = rnd() % 10
      const key = pick === 0 ? null : pick === 1 ? Buffer.alloc(0) : bytes(rnd() % 50)
      const vpick = rnd() % 20
      const value = vpick === 0 ? null : vpick === 1 ? Buffer.alloc(0) : bytes(rnd() % (vpick === 2 ? 70000 : 500))
      // kafkajs cannot encode a null header value (it measures it first); Kafka can.
      const headers = {}
      const hlist = []
      const nh = rnd() % 3 === 0 ? rnd() % 6 : 0
      for (let h = 0; h < nh; h++) {
        const k = 'x' + String.fromCharCode(97 + (rnd() % 4))
        const v = bytes(rnd() % 30)
        if (headers[k] === undefined) headers[k] = v
        else if (Array.isArray(headers[k])) headers[k].push(v)
        else headers[k] = [headers[k], v]
      }
      for (const k of Object.keys(headers)) {
        for (const v of Array.isArray(headers[k]) ? headers[k] : [headers[k]]) hlist.push([k, hex(v)])
      }
      const timestampDelta = (rnd() % 5000) - 1000
      const ts = firstTimestamp.add(timestampDelta)
      if (ts.compare(maxTimestamp) > 0) maxTimestamp = ts
      encoded.push(Record({ offsetDelta: ri, timestampDelta, key, value, headers }))
      recs.push({
        offset: offset.add(ri).toString(),
        timestamp: ts.toString(),
        key: hex(key),
        value: hex(value),
        headers: hlist,
      })
    }
    const idempotent = bi % 3 !== 0
    const meta = {
      firstOffset: offset,
      firstTimestamp,
      maxTimestamp,
      partitionLeaderEpoch: rnd() % 1000,
      lastOffsetDelta: n - 1,
      transactional: bi % 4 === 1,
      producerId: idempotent ? Long.fromValue(rnd()) : Long.fromValue(-1),
      producerEpoch: idempotent ? rnd() % 32767 : -1,
      firstSequence: idempotent ? rnd() % 2147483647 : -1,
      records: encoded,
    }
    const enc = await RecordBatch(meta)
    out.push(enc.buffer)
    batches.push({
      baseOffset: offset.toString(),
      baseTimestamp: firstTimestamp.toString(),
      maxTimestamp: maxTimestamp.toString(),
      partitionLeaderEpoch: meta.partitionLeaderEpoch,
      attributes: meta.transactional ? 0x10 : 0,
      lastOffsetDelta: n - 1,
      producerId: meta.producerId.toString(),
      producerEpoch: meta.producerEpoch,
      baseSequence: meta.firstSequence,
      records: recs,
    })
    offset = offset.add(n)
  }
  fs.writeFileSync(bin, Buffer.concat(out))
  fs.writeFileSync(jsonPath, JSON.stringify({ batches }))
  console.log(`kafkajs encoded ${batches.length} batches`)
}

async function main () {
  const [mode, bin, jsonPath, seed] = process.argv.slice(2)
  if (mode === 'decode' && jsonPath) await decode(bin, jsonPath)
  else if (mode === 'encode' && jsonPath) await encode(bin, jsonPath, Number(seed || 7))
  else {
    console.error('usage: record_kafkajs.js decode|encode <batches.bin> <expected.json> [seed]')
    process.exit(2)
  }
  process.exit(mismatches ? 1 : 0)
}

main().catch(e => {
  console.error(e)
  process.exit(1)
})
