"""Run the README's warehouse queries with DuckDB or Spark and print JSON.

    python queries.py --engine duckdb --warehouse .hookbridge/warehouse
    python queries.py --engine spark  --warehouse .hookbridge/warehouse

Prints one JSON object: query name -> rows (lists of values). The queries
are the .sql files beside this script, {root} replaced by --warehouse.
"""

import argparse
import datetime
import decimal
import json
import pathlib

HERE = pathlib.Path(__file__).parent
QUERIES = ("by_hour", "products", "times")


def plain(v):
    """JSON-ready values: dates as ISO days, decimals as floats."""
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def sql(engine, name, root):
    return (HERE / engine / f"{name}.sql").read_text(encoding="utf-8").replace("{root}", root)


def run_duckdb(root):
    import duckdb

    con = duckdb.connect()
    out = {}
    for name in QUERIES:
        rows = None
        for stmt in filter(str.strip, sql("duckdb", name, root).split(";")):
            rows = con.execute(stmt).fetchall()
        out[name] = [[plain(v) for v in r] for r in rows]
    return out


def run_spark(root):
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").appName("hookbridge-warehouse")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        out = {}
        for name in QUERIES:
            text = "\n".join(l for l in sql("spark", name, root).splitlines() if not l.startswith("--"))
            rows = spark.sql(text.strip().rstrip(";")).collect()
            out[name] = [[plain(v) for v in r] for r in rows]
        return out
    finally:
        spark.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", choices=("duckdb", "spark"), required=True)
    p.add_argument("--warehouse", required=True, help="the warehouse folder (dev: <data dir>/warehouse)")
    args = p.parse_args()
    root = str(pathlib.Path(args.warehouse).resolve())
    result = run_duckdb(root) if args.engine == "duckdb" else run_spark(root)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
