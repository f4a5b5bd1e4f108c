"""Read a hookbridge .deduped topic and print one JSON line per event.

The consumer reads with isolation.level=read_committed (dedupe writes the
.deduped topics in transactions: without it you would also see records of
aborted transactions), in its own consumer group, and decodes the Confluent
wire format (magic byte, schema id, Avro) with the schema registry's Avro
deserializer, which fetches each writer schema by id and caches it. Offsets
are stored only after a line is printed, so a crash re-prints rather than
loses (at-least-once): key your own writes by event_id.

    python consumer.py --bootstrap 127.0.0.1:9092 --registry http://127.0.0.1:8081 \
        --topic productagents.messages.v1.deduped --group my-team
"""

import argparse
import datetime
import json
import signal
import sys

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def plain(value):
    """Make a decoded Avro value JSON-ready: timestamps as RFC 3339 UTC."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        utc = value.astimezone(datetime.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return value


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port[,host:port]")
    p.add_argument("--registry", required=True, help="schema registry URL")
    p.add_argument("--topic", required=True, help="a .deduped topic (or several, comma-separated)")
    p.add_argument("--group", required=True, help="your own consumer group id")
    p.add_argument("--reader-schema", help="decode into this .avsc (the schema your code was written for) "
                   "instead of each record's writer schema; fields added later are then left out")
    p.add_argument("--max", type=int, default=0, help="stop after this many events (0: run until interrupted)")
    args = p.parse_args()

    reader_schema = open(args.reader_schema, encoding="utf-8").read() if args.reader_schema else None
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": args.registry}), schema_str=reader_schema)
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "enable.auto.offset.store": False,  # store after printing: at-least-once
        "partition.assignment.strategy": "cooperative-sticky",
    })
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    consumer.subscribe(args.topic.split(","))
    printed = 0
    try:
        while not stop and (args.max == 0 or printed < args.max):
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            value = deserialize(msg.value(), SerializationContext(msg.topic(), MessageField.VALUE, msg.headers()))
            line = {
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": msg.key().decode("utf-8") if msg.key() is not None else None,
                "headers": {k: v.decode("utf-8") for k, v in (msg.headers() or [])},
                "value": plain(value),
            }
            print(json.dumps(line, ensure_ascii=False), flush=True)
            consumer.store_offsets(msg)
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()  # commits the stored offsets


if __name__ == "__main__":
    sys.exit(main())
