// Reads a hookbridge .deduped topic and prints one JSON line per event.
//
// The consumer reads with read_committed (dedupe writes the .deduped topics in
// transactions; kafkajs reads committed records unless readUncommitted is
// set, stated here so it cannot be missed), in its own consumer group, and
// decodes the Confluent wire format (magic byte, schema id, Avro) through the
// schema registry, which the client asks for each writer schema once and
// caches. Offsets are committed only for what was printed, so a crash
// re-prints rather than loses (at-least-once): key your own writes by event_id.
//
// Compression: kafkajs only has gzip built in. The .deduped topics hold
// snappy batches (dedupe's producer, franz-go's default codec), and so do
// the raw topics by default (the receiver's receiver.compression); lz4 is
// registered too for a receiver set to it. A batch in a codec without one
// fails the fetch.
//
//   node consumer.js --bootstrap 127.0.0.1:9092 --registry http://127.0.0.1:8081 \
//     --topic productagents.messages.v1.deduped --group my-team
'use strict'

const { parseArgs } = require('node:util')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')
const avro = require('avsc')
const SnappyCodec = require('kafkajs-snappy')
const lz4 = require('lz4-napi')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
// Kafka's lz4 is the LZ4 frame format.
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder) => lz4.compressFrame(encoder.buffer),
  decompress: async (buffer) => lz4.decompressFrame(buffer),
})

// timestamp-millis as RFC 3339 UTC strings, as hookbridge's own tools print them.
class TimestampMillis extends avro.types.LogicalType {
  _fromValue (ms) { return new Date(Number(ms)).toISOString() }
  _toValue (iso) { return typeof iso === 'string' ? Date.parse(iso) : iso }
  _resolve (type) { if (avro.Type.isType(type, 'long', 'logical:timestamp-millis')) return this._fromValue.bind(this) }
}

async function main () {
  const { values: args } = parseArgs({
    options: {
      bootstrap: { type: 'string' },
      registry: { type: 'string' },
      topic: { type: 'string' },
      group: { type: 'string' },
      max: { type: 'string', default: '0' },
    },
  })
  for (const k of ['bootstrap', 'registry', 'topic', 'group']) {
    if (!args[k]) throw new Error(`--${k} is required`)
  }
  const max = Number(args.max)
  const registry = new SchemaRegistry({ host: args.registry },
    { [SchemaType.AVRO]: { logicalTypes: { 'timestamp-millis': TimestampMillis } } })
  const kafka = new Kafka({ clientId: 'hookbridge-example-node', brokers: args.bootstrap.split(','), logLevel: logLevel.WARN })
  const consumer = kafka.consumer({ groupId: args.group, readUncommitted: false })
  let printed = 0
  let done
  const finished = new Promise((resolve) => { done = resolve })
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => done())

  await consumer.connect()
  await consumer.subscribe({ topics: args.topic.split(','), fromBeginning: true })
  await consumer.run({
    // Offsets are resolved one by one after printing, and kafkajs commits
    // only resolved offsets: what was not printed is read again next time.
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || (max > 0 && printed >= max)) break
        const headers = {}
        for (const [k, v] of Object.entries(message.headers || {})) headers[k] = v.toString('utf8')
        const line = {
          topic: batch.topic,
          partition: batch.partition,
          offset: Number(message.offset),
          key: message.key ? message.key.toString('utf8') : null,
          headers,
          value: await registry.decode(message.value),
        }
        process.stdout.write(JSON.stringify(line) + '\n')
        resolveOffset(message.offset)
        await heartbeat()
        if (max > 0 && ++printed >= max) done()
      }
    },
  })
  await finished
  await consumer.disconnect() // commits what was handled
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
