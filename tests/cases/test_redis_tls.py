"""`rediss://` and AUTH (issue 16): the Redis Stream sink and the shared dedup store
against a real redis-server that listens on TLS only and wants a password, with a
throwaway CA made in the test. Everything on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from lookout.base.errors import ConfigError
from lookout.cases.dedup_store import PlaceRef, RedisDedupStore
from lookout.cases.delivery import TransientError
from lookout.cases.model import DraftCase
from lookout.cases.redis_stream import CaseStreamReader, RedisStreamSink
from lookout.cases.settings import DedupStoreConfig, RedisStreamSinkConfig
from lookout.cli.main import main
from tests.support.config import MakeConfig
from tests.support.redis_server import RedisServer, TlsFiles, make_tls_files

PASSWORD = "tls-pw-8d41c2"
MakeCase = Callable[..., DraftCase]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_redis(tls_files: TlsFiles) -> Iterator[RedisServer]:
    with RedisServer(tls=tls_files, password=PASSWORD) as server:
        yield server


def with_password(server: RedisServer, password: str, user: str = "") -> str:
    return server.url.replace("rediss://", f"rediss://{user}:{password}@")


def admin(server: RedisServer, ca: Path) -> redis.Redis:
    return redis.Redis.from_url(
        with_password(server, PASSWORD), ssl_ca_certs=str(ca), socket_timeout=2
    )


def test_redis_server_is_tls_only(tls_redis: RedisServer, tls_files: TlsFiles) -> None:
    """The server really speaks TLS: plain redis:// to its port gets no answer."""
    plain = redis.Redis.from_url(
        f"redis://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0", socket_timeout=1
    )
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()
    client = admin(tls_redis, tls_files.ca)
    assert client.ping() is True
    client.close()


def test_sink_delivers_over_rediss_with_password_and_acl_user(
    tls_redis: RedisServer, tls_files: TlsFiles, make_case: MakeCase
) -> None:
    ca = str(tls_files.ca)
    setup = admin(tls_redis, tls_files.ca)
    setup.acl_setuser(
        "lookout", enabled=True, passwords=["+acl-pw-5e7f"], keys=["*"], categories=["+@all"]
    )
    reader = CaseStreamReader(setup, stream="tls:cases")
    reader.ensure_group("0")
    cases = [make_case(i) for i in range(2)]
    urls = [with_password(tls_redis, PASSWORD), with_password(tls_redis, "acl-pw-5e7f", "lookout")]
    for case, url in zip(cases, urls, strict=True):
        sink = RedisStreamSink(url, stream="tls:cases", ssl_ca_certs=ca, name="r")
        sink.deliver(case.to_json(), case.id)
        sink.deliver(case.to_json(), case.id)  # idempotent over TLS too
        sink.close()
    got = reader.read(count=10)
    assert [fields["id"] for _eid, fields in got] == [c.id for c in cases]
    setup.close()


def test_dedup_store_over_rediss_with_password(tls_redis: RedisServer, tls_files: TlsFiles) -> None:
    url = with_password(tls_redis, PASSWORD)
    box1 = RedisDedupStore.open(url, prefix="tls", ssl_ca_certs=str(tls_files.ca))
    box2 = RedisDedupStore.open(url, prefix="tls", ssl_ca_certs=str(tls_files.ca))
    van = PlaceRef("case-1", "illegal_parking", 113.93, 22.53, "cam-a", 100.0, 130.0)
    assert box1.claim(van, radius_m=5.0, ttl_s=600)
    same = PlaceRef("case-2", "illegal_parking", 113.93001, 22.53, "cam-b", 110.0, 140.0)
    assert not box2.claim(same, radius_m=5.0, ttl_s=600)  # the other box holds it
    found = box2.find_near("illegal_parking", 113.93001, 22.53, 5.0, since=0.0)
    assert found is not None and found.case_id == "case-1"
    box1.close()
    box2.close()


def test_wrong_password_is_one_clear_line_without_it(
    tls_redis: RedisServer, tls_files: TlsFiles, make_case: MakeCase
) -> None:
    wrong = "wrong-pw-91b3"
    url = with_password(tls_redis, wrong)
    case = make_case(5)
    sink = RedisStreamSink(url, ssl_ca_certs=str(tls_files.ca), socket_timeout=1.0)
    with pytest.raises(TransientError) as sink_err:
        sink.deliver(case.to_json(), case.id)
    sink.close()
    with pytest.raises(ConfigError) as store_err:
        RedisDedupStore.open(url, ssl_ca_certs=str(tls_files.ca))
    for msg in (str(sink_err.value), str(store_err.value)):
        assert "authentication failed" in msg, msg
        assert wrong not in msg and PASSWORD not in msg and "\n" not in msg
        assert f"rediss://127.0.0.1:{tls_redis.port}/0" in msg
    assert "***" not in repr(sink) and wrong not in repr(sink)


def test_untrusted_certificate_is_a_tls_error(
    tls_redis: RedisServer, tmp_path: Path, make_case: MakeCase
) -> None:
    """Another CA (here: a second throwaway one) does not vouch for the server."""
    other = make_tls_files(tmp_path / "other")
    url = with_password(tls_redis, PASSWORD)
    sink = RedisStreamSink(url, ssl_ca_certs=str(other.ca), socket_timeout=1.0)
    case = make_case(6)
    with pytest.raises(TransientError) as err:
        sink.deliver(case.to_json(), case.id)
    sink.close()
    msg = str(err.value)
    assert "TLS failed" in msg and "certificate verify failed" in msg, msg
    assert PASSWORD not in msg


def test_ca_file_needs_a_rediss_url() -> None:
    with pytest.raises(ValueError, match="rediss://"):
        RedisStreamSinkConfig(type="redis_stream", url="redis://127.0.0.1/0", ssl_ca_certs="x")
    with pytest.raises(ValueError, match="rediss://"):
        DedupStoreConfig(type="redis", url="redis://127.0.0.1/0", ssl_ca_certs="x")


def test_lookout_run_with_a_wrong_password_stops_with_one_line(
    tls_redis: RedisServer,
    tls_files: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make_config: MakeConfig,
) -> None:
    """The whole path: `${ENV}` in the YAML, `lookout run`, exit 2 and one line."""
    monkeypatch.setenv("LOOKOUT_TEST_REDIS_PW", "wrong-pw-77c0")
    url = f"rediss://:${{LOOKOUT_TEST_REDIS_PW}}@127.0.0.1:{tls_redis.port}/0"
    config = make_config(
        [{"id": "cam", "source": "rtsp://127.0.0.1:9/none"}],
        name="site.yaml",
        model={"manifest": "${LOOKOUT_ROOT}/models/yolox_nano.yaml"},
        dedup={"store": {"type": "redis", "url": url, "ssl_ca_certs": str(tls_files.ca)}},
    )
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "dedup.store.url" in err and "authentication failed" in err, err
    assert "wrong-pw-77c0" not in err
