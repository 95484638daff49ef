"""pdfrag.stack.rgw: a real Ceph RADOS Gateway (single node, memstore, auth
none) in tmp_path. boto3 round trips; pdfrag's own S3Store and pyarrow.fs
through ``client_env``; S3 bucket notifications pushed to a local HTTP
endpoint; two instances side by side; stop leaves no process behind.

Needs the Debian packages from scripts/install-system.sh (radosgw ceph-mon
ceph-osd)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pytest

from pdfrag.errors import StoreError
from pdfrag.stack.rgw import RGWInfo, client_env, rgw_available, rgw_status, s3_client, start_rgw, stop_rgw
from pdfrag.store.s3 import S3Store

pytestmark = pytest.mark.integration


def _processes_using(data_dir: Path) -> list[str]:
    """Live (non-zombie) processes whose command line names data_dir/ceph.conf."""
    conf = str(Path(data_dir).resolve() / "ceph.conf")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if conf.encode() in args and state not in ("Z", "X"):
            found.append(f"{entry.name} {b' '.join(args).decode(errors='replace')}")
    return found


def _assert_stopped(info: RGWInfo) -> None:
    stop_rgw(info)
    assert _processes_using(Path(info.data_dir)) == []
    for pid in info.pids.values():
        assert not Path(f"/proc/{pid}").exists() or _processes_using(Path(info.data_dir)) == []
    assert rgw_status(Path(info.data_dir)) is None
    assert not (Path(info.data_dir) / "rgw.json").exists()


@pytest.fixture(scope="module")
def rgw(tmp_path_factory: pytest.TempPathFactory):
    if not rgw_available():
        pytest.fail("Ceph binaries missing: run scripts/install-system.sh (radosgw ceph-mon ceph-osd)")
    data_dir = tmp_path_factory.mktemp("rgw")
    t0 = time.monotonic()
    info = start_rgw(data_dir)
    print(f"RGW up at {info.endpoint} in {time.monotonic() - t0:.1f}s")
    try:
        yield info
    finally:
        _assert_stopped(info)


@pytest.fixture()
def bucket(rgw: RGWInfo, request: pytest.FixtureRequest) -> str:
    name = "t-" + request.node.name.lower().replace("_", "-")[:40]
    s3_client(rgw).create_bucket(Bucket=name)
    return name


def test_state_file_and_status(rgw: RGWInfo) -> None:
    state = json.loads((Path(rgw.data_dir) / "rgw.json").read_text())
    assert state["endpoint"] == rgw.endpoint
    assert state["pids"] == rgw.pids
    assert set(rgw.pids) == {"mon", "osd", "rgw"}
    assert rgw_status(Path(rgw.data_dir)) == rgw
    # Everything under data_dir: config, admin sockets, logs.
    d = Path(rgw.data_dir)
    assert (d / "ceph.conf").is_file()
    assert {p.name for p in (d / "run").glob("*.asok")} >= {"ceph-mon.a.asok", "ceph-osd.0.asok"}
    assert (d / "log" / "client.rgw.log").is_file()
    env = client_env(rgw)
    assert env["AWS_ENDPOINT_URL"] == rgw.endpoint
    assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "WHEN_REQUIRED"
    assert env["AWS_RESPONSE_CHECKSUM_VALIDATION"] == "WHEN_REQUIRED"


def test_boto3_roundtrip(rgw: RGWInfo, bucket: str) -> None:
    s3 = s3_client(rgw)
    keys = ["a.txt", "dir/b.bin", "dir/sub/c d.txt", "dir/ü.txt"]
    for i, k in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=k, Body=f"body {i}".encode())
    assert s3.get_object(Bucket=bucket, Key="dir/sub/c d.txt")["Body"].read() == b"body 2"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(keys)
    under = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]]
    assert sorted(under) == ["dir/b.bin", "dir/sub/c d.txt", "dir/ü.txt"]
    s3.delete_object(Bucket=bucket, Key="a.txt")
    assert "a.txt" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_s3store_via_client_env(rgw: RGWInfo, bucket: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in client_env(rgw).items():
        monkeypatch.setenv(k, v)
    store = S3Store(f"s3://{bucket}/pre/fix", endpoint_url=rgw.endpoint, region=rgw.region)
    store.check()
    assert not store.exists("x/1.bin")
    store.put_bytes("x/1.bin", b"one")
    store.put_bytes("x/2.bin", b"two")
    store.put_bytes("y/3.bin", b"three")
    assert store.exists("x/1.bin")
    assert store.get_bytes("x/2.bin") == b"two"
    assert list(store.list("x/")) == ["x/1.bin", "x/2.bin"]
    assert list(store.list()) == ["x/1.bin", "x/2.bin", "y/3.bin"]
    assert store.uri("x/1.bin") == f"s3://{bucket}/pre/fix/x/1.bin"
    table = pa.table({"id": [1, 2, 3], "text": ["a", "b", "汉字"]})
    store.put_table("t/pages.parquet", table)
    assert store.get_table("t/pages.parquet").equals(table)
    store.delete("x/1.bin")
    assert not store.exists("x/1.bin")
    with pytest.raises(StoreError):
        store.get_bytes("x/1.bin")
    # The endpoint alone, from AWS_ENDPOINT_URL.
    assert S3Store(f"s3://{bucket}/pre/fix").get_bytes("y/3.bin") == b"three"
    with pytest.raises(StoreError, match="create the bucket"):
        S3Store("s3://no-such-bucket-here", endpoint_url=rgw.endpoint).check()


def test_pyarrow_fs_via_client_env(rgw: RGWInfo, bucket: str, aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow writes fail with HTTP 411 unless AWS_REQUEST_CHECKSUM_CALCULATION
    is WHEN_REQUIRED; client_env sets it."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    for k, v in client_env(rgw).items():
        monkeypatch.setenv(k, v)
    fs = pafs.S3FileSystem(endpoint_override=rgw.endpoint, region=rgw.region)
    table = pa.table({"n": list(range(100))})
    pq.write_table(table, f"{bucket}/pa/t.parquet", filesystem=fs)
    assert pq.read_table(f"{bucket}/pa/t.parquet", filesystem=fs).equals(table)
    assert [i.path for i in fs.get_file_info(pafs.FileSelector(f"{bucket}/pa"))] == [f"{bucket}/pa/t.parquet"]


class _Recorder(BaseHTTPRequestHandler):
    events: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        try:
            type(self).events.append({"path": self.path, "body": json.loads(body)})
        except ValueError:
            type(self).events.append({"path": self.path, "raw": body.decode(errors="replace")})

    def log_message(self, *args) -> None:
        pass


def test_bucket_notification_push(rgw: RGWInfo, bucket: str) -> None:
    """A plain (non-persistent) topic pushes synchronously during the PUT;
    the key arrives raw (not URL-encoded, unlike AWS)."""
    handler = type("Handler", (_Recorder,), {"events": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sns = s3_client(rgw, "sns")
        arn = sns.create_topic(
            Name=f"{bucket}-events", Attributes={"push-endpoint": f"http://127.0.0.1:{port}/s3-events"}
        )["TopicArn"]
        s3 = s3_client(rgw)
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "TopicConfigurations": [
                    {"Id": "ingest", "TopicArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
                ]
            },
        )
        s3.put_object(Bucket=bucket, Key="a b/x.pdf", Body=b"%PDF-1.4 fake")
        deadline = time.monotonic() + 15
        while not handler.events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert handler.events, "no notification arrived"
        ev = handler.events[0]
        assert ev["path"] == "/s3-events"
        records = ev["body"]["Records"]
        assert len(records) == 1
        rec = records[0]
        assert rec["eventName"].startswith("ObjectCreated")
        assert rec["s3"]["bucket"]["name"] == bucket
        assert rec["s3"]["object"]["key"] == "a b/x.pdf"
        assert rec["s3"]["object"]["size"] == len(b"%PDF-1.4 fake")
        # Records of removals too (as configured); the key again raw.
        s3.delete_object(Bucket=bucket, Key="a b/x.pdf")
        deadline = time.monotonic() + 15
        while len(handler.events) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        removed = handler.events[1]["body"]["Records"][0]
        assert removed["eventName"].startswith("ObjectRemoved")
        assert removed["s3"]["object"]["key"] == "a b/x.pdf"
        sns.delete_topic(TopicArn=arn)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_two_instances_side_by_side(tmp_path: Path) -> None:
    """Separate data dirs: own ports, fsid, admin sockets and buckets; stop
    kills every process of its data dir and only those."""
    a = start_rgw(tmp_path / "a")
    try:
        b = start_rgw(tmp_path / "b", access_key="other", secret_key="othersecret")
        try:
            assert a.endpoint != b.endpoint
            sa, sb = (json.loads((Path(i.data_dir) / "rgw.json").read_text()) for i in (a, b))
            assert sa["fsid"] != sb["fsid"] and sa["mon_port"] != sb["mon_port"]
            # Starting again while it runs returns the running one.
            assert start_rgw(tmp_path / "a") == a
            s3a, s3b = s3_client(a), s3_client(b)
            s3a.create_bucket(Bucket="only-a")
            s3b.create_bucket(Bucket="only-b")
            assert [x["Name"] for x in s3a.list_buckets()["Buckets"]] == ["only-a"]
            assert [x["Name"] for x in s3b.list_buckets()["Buckets"]] == ["only-b"]
            _assert_stopped(a)
            assert rgw_status(tmp_path / "b") == b  # untouched
        finally:
            stop_rgw(b)
        assert _processes_using(tmp_path / "b") == []
    finally:
        stop_rgw(a)
    assert _processes_using(tmp_path / "a") == []
    stop_rgw(tmp_path / "a")  # a no-op when nothing runs


def test_failure_is_reported_and_cleaned_up(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=r"rgw .* exited(?s:.*)failed to bind address"):
            start_rgw(tmp_path / "c", port=port, timeout=30)
    assert _processes_using(tmp_path / "c") == []
    assert not (tmp_path / "c" / "rgw.json").exists()
    assert os.path.isfile(tmp_path / "c" / "log" / "client.rgw.log")
