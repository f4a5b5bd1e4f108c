// Package warehouse is the warehouse consumer group: it reads the
// `.deduped` topics and lands them as Parquet files (zstd) that DuckDB,
// Spark and Athena read, Hive-partitioned by event date and hour:
//
//	<root>/<topic>/dt=YYYY-MM-DD/hr=HH/<topic>+<partition>+<first offset>.parquet
//
// The pieces, one file each: avro.go parses a writer's Avro schema,
// columns.go maps it to a Parquet schema and shred.go turns goavro native
// data into Parquet rows for it; decode.go compiles the writer's schema
// into a decoder that reads the Avro binary straight into those rows, with
// goavro for what it does not take; catalog.go caches both per schema id;
// layout.go names files; file.go writes one file with capped row groups;
// store.go, store_local.go and store_s3.go make finished files durable
// without ever replacing one; probe.go finds what earlier writers stored;
// processor.go is the per-partition
// consumers.Processor that ties them together and decides when to flush
// and what it still holds back from the runner's commit.
//
// Exactly once comes from three rules, explained in processor.go: a file
// is named by the first offset it holds and holds every record of its
// (hour, schema) from that offset to the end of its flush (its horizon,
// kept in the footer and the object metadata); a file is only ever
// created, never replaced; and before a processor opens a file it probes
// the store for one that holds its first record (one of the same name, or,
// when a replay started the processor inside an earlier epoch, one that
// starts before it: probe.go), skips what an earlier writer already landed
// and does not commit before it has passed that writer's horizon.
package warehouse
