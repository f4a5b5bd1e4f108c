"""Run the README's warehouse queries with DuckDB or Spark and print JSON.

    python queries.py --engine duckdb --warehouse .hookbridge/warehouse
    python queries.py --engine spark  --warehouse .hookbridge/warehouse
    python queries.py --engine duckdb --warehouse .hookbridge/warehouse --sql "SELECT ..."

Prints one JSON object: query name -> rows (lists of values). The queries
are the .sql files beside this script, {root} replaced by --warehouse. With
--sql it runs that query instead (its {root} replaced too) and prints
{"columns": [...], "rows": [...]}.

Files of one topic can hold different versions of its schema (a field added
or removed), so DuckDB reads them with union_by_name = true and Spark with
spark.sql.parquet.mergeSchema: the columns are the union of every file's.
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
    """The text of a query beside this script, for the warehouse at root."""
    return (HERE / engine / f"{name}.sql").read_text(encoding="utf-8").replace("{root}", root)


def run_duckdb(texts):
    import duckdb

    con = duckdb.connect()
    out = {}
    for name, text in texts.items():
        cur = None
        for stmt in filter(str.strip, text.split(";")):
            cur = con.execute(stmt)
        out[name] = ([d[0] for d in cur.description], cur.fetchall())
    return out


def run_spark(texts):
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").appName("hookbridge-warehouse")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.parquet.mergeSchema", "true")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        out = {}
        for name, text in texts.items():
            text = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
            df = spark.sql(text.strip().rstrip(";"))
            out[name] = (df.columns, df.collect())
        return out
    finally:
        spark.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", choices=("duckdb", "spark"), required=True)
    p.add_argument("--warehouse", required=True, help="the warehouse folder (dev: <data dir>/warehouse)")
    p.add_argument("--sql", help="run this query instead of the ones beside this script")
    args = p.parse_args()
    root = str(pathlib.Path(args.warehouse).resolve())
    if args.sql:
        texts = {"sql": args.sql.replace("{root}", root)}
    else:
        texts = {name: sql(args.engine, name, root) for name in QUERIES}
    result = (run_duckdb if args.engine == "duckdb" else run_spark)(texts)
    if args.sql:
        columns, rows = result["sql"]
        out = {"columns": columns, "rows": [[plain(v) for v in r] for r in rows]}
    else:
        out = {name: [[plain(v) for v in r] for r in rows] for name, (_, rows) in result.items()}
    print(json.dumps(out, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
