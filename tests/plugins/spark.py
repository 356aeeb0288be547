"""One embedded Spark session for the whole test run (starting one takes 10-20 s)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    """A local[2] SparkSession with few shuffle partitions, stopped at the end of the run."""
    pytest.importorskip("pyspark", reason="pyspark is installed by the test extra (pip install -e '.[test]')")
    from app.cohort.spark import spark_session

    session = spark_session("local[2]", app_name="carepath tests",
                            config={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"})
    yield session
    session.stop()
