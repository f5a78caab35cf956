"""Kafka factories: settings contract, manual commits only (real broker where it matters)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from kopano.kafka import KafkaSettings, bootstrap_servers_list, create_consumer, create_producer
from kopano.settings import BaseServiceSettings


def test_bootstrap_servers_are_parsed() -> None:
    assert bootstrap_servers_list("a:9092, b:9093,") == ["a:9092", "b:9093"]
    assert bootstrap_servers_list(["tcp://a:9092"]) == ["a:9092"]
    with pytest.raises(ValueError, match="no Kafka"):
        bootstrap_servers_list(" , ")


async def test_factories_read_the_service_settings() -> None:
    settings: KafkaSettings = BaseServiceSettings(
        service_name="members",
        kafka_bootstrap_servers="127.0.0.1:1,127.0.0.1:2",
        kafka_enable_idempotence=False,
    )
    producer = create_producer(settings)
    consumer = create_consumer(settings, "members.member", group_id="content")
    assert isinstance(producer, AIOKafkaProducer)
    assert isinstance(consumer, AIOKafkaConsumer)
    assert producer.client._bootstrap_servers == ["127.0.0.1:1", "127.0.0.1:2"]
    assert producer.client._client_id == "members"
    # Explicit arguments win over the settings.
    other = create_producer(settings, bootstrap_servers="127.0.0.1:3", client_id="relay")
    assert other.client._bootstrap_servers == ["127.0.0.1:3"]
    assert other.client._client_id == "relay"


@pytest.mark.integration
async def test_consumer_never_commits_on_its_own(kafka_bootstrap: str, unique_topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(unique_topic, b"{}", key=b"k")
    finally:
        await producer.stop()
    group = f"{unique_topic}-g"
    consumer = create_consumer(
        None,
        unique_topic,
        group_id=group,
        bootstrap_servers=kafka_bootstrap,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        auto_commit_interval_ms=100,
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord[bytes, bytes]] = []
        for _ in range(40):
            batch = await consumer.getmany(timeout_ms=500)
            records.extend(r for rs in batch.values() for r in rs)
            if records:
                break
        assert len(records) == 1
        await asyncio.sleep(0.5)  # several auto-commit intervals, were auto-commit on
        assert await consumer.committed(TopicPartition(unique_topic, 0)) is None
    finally:
        await consumer.stop()
