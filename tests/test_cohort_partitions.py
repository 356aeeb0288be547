"""How a cohort's partitions are gathered, sized and written: patients never split across partitions, a gzip file
sized by its text, and a partition's outputs that a failed or repeated task never leaves half-written or counted
twice."""

from __future__ import annotations

import gzip

import pytest

from app.cohort.run import CountsTotal, PartFile, PartitionCounts
from app.cohort.spark import _by_patient, gather, text_size


def test_gather__one_group_per_patient_in_the_order_first_seen():
    rows = [("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)]
    assert list(gather(iter(rows))) == [("b", [1, 3]), ("a", [2, 5]), ("c", [4])]
    assert list(gather(iter([]))) == []


def test_text_size__a_gzip_file_counts_its_inflated_text_and_a_plain_file_its_bytes(tmp_path):
    text = b'{"resourceType": "Observation"}\n' * 20_000
    packed = tmp_path / "Observation.ndjson.gz"
    packed.write_bytes(gzip.compress(text))
    plain = tmp_path / "Observation.ndjson"
    plain.write_bytes(text)
    assert packed.stat().st_size < len(text) // 10
    assert text_size(str(packed)) == len(text) == text_size(str(plain))
    broken = tmp_path / "broken.ndjson.gz"  # a trailer that says less than the file: never below the file's size
    broken.write_bytes(b"x" * 100 + (3).to_bytes(4, "little"))
    assert text_size(str(broken)) == 104


def test_partition_counts__each_partition_is_counted_once_and_the_driver_keeps_only_the_total():
    param, total = PartitionCounts(), CountsTotal()
    task = param.addInPlace(param.zero(total), {0: {("patients",): 5, ("gap", "bp"): 2}})  # what a task sends
    assert task == {0: {("patients",): 5, ("gap", "bp"): 2}}
    total = param.addInPlace(total, task)
    total = param.addInPlace(total, {1: {("patients",): 7}})
    total = param.addInPlace(total, {0: {("patients",): 5, ("gap", "bp"): 2}})  # partition 0 planned again
    assert total.counts == {("patients",): 12, ("gap", "bp"): 2}
    assert total.seen == {0, 1}


def test_part_file__written_whole_or_not_at_all(tmp_path):
    with PartFile(tmp_path / "plans", 3) as part:
        part.write("one\n")
        part.write("two\n")
    assert (tmp_path / "plans" / "part-00003").read_text() == "one\ntwo\n"
    with pytest.raises(RuntimeError), PartFile(tmp_path / "plans", 4) as part:
        part.write("half\n")
        raise RuntimeError("the worker failed")
    assert sorted(p.name for p in (tmp_path / "plans").iterdir()) == ["part-00003"]


def test_by_patient__a_patient_keyed_in_several_inputs_is_one_group_with_all_its_items(spark):
    context = spark.sparkContext
    first = context.parallelize([(f"p{i % 7}", ("first", i)) for i in range(40)], 4)
    second = context.parallelize([(f"p{i % 5}", ("second", i)) for i in range(15)], 3)
    groups = _by_patient(context, [first, second], 3).collect()
    assert len(groups) == len({patient for patient, _ in groups}) == 7
    for patient, items in groups:
        index = int(patient[1:])
        expected = {("first", i) for i in range(40) if i % 7 == index} | {("second", i) for i in range(15)
                                                                            if i % 5 == index}
        assert sorted(items) == sorted(expected)
    assert _by_patient(context, [first, second], 3).getNumPartitions() == 3
