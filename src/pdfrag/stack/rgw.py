"""A real S3 server for tests and the local stack: Ceph RADOS Gateway (RGW).

Single node on 127.0.0.1, from Debian's packages (``scripts/install-system.sh``
installs ``radosgw ceph-mon ceph-osd``): one monitor, one OSD on ``memstore``
(objects live in the OSD's memory), ``auth none`` (no keyrings, no mgr), and
``radosgw`` with the beast frontend. Ready in about 1-2.5 s on 2 cores (the
monitor commits map changes at once instead of every second: with Ceph's
default the start takes 12-16 s).

Everything lives under ``data_dir``:

* ``ceph.conf``      – the cluster's only configuration (every command gets
  ``--conf`` and ``CEPH_CONF``; ``/etc/ceph`` is never read);
* ``mon/``, ``osd/`` – monitor store and OSD data; ``run/`` – admin sockets and
  pid files; ``log/`` – daemon logs plus each process's stdout/stderr
  (``*.out``); the previous start's logs move to ``log.prev/``;
* ``rgw.json``       – ``{endpoint, access_key, secret_key, region, data_dir,
  pids: {mon, osd, rgw}, ...}``, written atomically once the endpoint answers
  and the user exists;
* ``rgw.lock``       – ``flock``-ed while starting or stopping.

The daemons run in the foreground of their own sessions, detached from the
caller: they outlive it until :func:`stop_rgw`. Each start builds a fresh
cluster (new fsid, empty buckets): data does not survive a stop. Two instances
in different ``data_dir`` s run side by side (own fsid, ports, run dir, admin
sockets).

Prefect-free; ``boto3`` is imported only by :func:`s3_client`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from pdfrag.stack import proc

__all__ = [
    "RGWInfo",
    "client_env",
    "rgw_available",
    "rgw_status",
    "s3_client",
    "start_rgw",
    "stop_rgw",
]

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "osdmaptool", "ceph")
STATE_FILE = "rgw.json"
LOCK_FILE = "rgw.lock"
CONF_FILE = "ceph.conf"
MON_ID = "a"
OSD_ID = 0
RGW_NAME = "client.rgw"
RGW_UID = "pdfrag"
ROLES = ("rgw", "osd", "mon")  # stop order

_POLL = 0.2
_LOG_TAIL_LINES = 30

# urllib honours http_proxy; a check of a local endpoint must not.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class RGWInfo:
    endpoint: str  # "http://127.0.0.1:PORT"
    access_key: str
    secret_key: str
    region: str
    data_dir: str
    pids: dict[str, int] = field(default_factory=dict)  # mon, osd, rgw


# ------------------------------------------------------------------- clients


def client_env(info: RGWInfo) -> dict[str, str]:
    """Environment for AWS SDKs (boto3, pyarrow.fs, s3fs) talking to ``info``.

    The checksum settings matter: newer SDKs send streaming, chunk-signed
    checksums by default, which RGW 16 answers with HTTP 411
    ``MissingContentLength`` (seen with pyarrow writes)."""
    return {
        "AWS_ACCESS_KEY_ID": info.access_key,
        "AWS_SECRET_ACCESS_KEY": info.secret_key,
        "AWS_DEFAULT_REGION": info.region,
        "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "WHEN_REQUIRED",
        "AWS_ENDPOINT_URL": info.endpoint,
    }


def s3_client(info: RGWInfo, service: str = "s3"):
    """A boto3 client (``"s3"``, or ``"sns"`` for notification topics) for ``info``."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client(
        service,
        endpoint_url=info.endpoint,
        aws_access_key_id=info.access_key,
        aws_secret_access_key=info.secret_key,
        region_name=info.region,
        config=config,
    )


# ------------------------------------------------------------------- helpers


def rgw_available() -> bool:
    """Whether the Ceph binaries needed by :func:`start_rgw` are on PATH."""
    return not _missing_binaries()


def _missing_binaries() -> list[str]:
    return [b for b in BINARIES if shutil.which(b) is None]


def _conf_path(data_dir: Path) -> Path:
    return data_dir / CONF_FILE


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CEPH_ARGS", "PYTHONPATH", "PYTHONHOME")}
    env["CEPH_CONF"] = str(_conf_path(data_dir))
    return env


def _cmd(data_dir: Path, *args: str) -> list[str]:
    """A ceph command line with our config passed explicitly (``--conf`` also
    marks the process as ours in /proc/PID/cmdline)."""
    return [args[0], "--conf", str(_conf_path(data_dir)), *args[1:]]


def _render_conf(data_dir: Path, fsid: str, mon_port: int, rgw_port: int, memstore_bytes: int) -> str:
    d = str(data_dir)
    return f"""\
# Written by pdfrag.stack.rgw: single-node Ceph for RGW, memstore, auth none.
[global]
fsid = {fsid}
mon_host = v1:127.0.0.1:{mon_port}
# Clients start from this monmap (it holds the fsid). Built from mon_host
# alone, a client's first command to a fresh monitor sometimes carries fsid 0
# and is refused: EPERM "wrong fsid" ("problem getting command descriptions").
monmap = {d}/monmap
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr2 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_allow_insecure_global_id_reclaim = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
run_dir = {d}/run
admin_socket = {d}/run/$cluster-$name.$pid.$cctid.asok
pid_file = {d}/run/$cluster-$name.pid
crash_dir = {d}/crash
keyring = {d}/keyring
log_file = {d}/log/$name.log
mon_cluster_log_file = {d}/log/cluster.log
log_to_stderr = false
err_to_stderr = true
[mon]
mon_data = {d}/mon/$cluster-$id
# Commit map changes at once, not after 1 s: RGW's start creates pools one
# mon command at a time (about 12 s with the default, 2-3 s without).
paxos_propose_interval = 0.01
paxos_min_wait = 0.001
# The monitor keeps a few MB here, but by default it shuts down when the
# filesystem has under 5 % free (a production cluster's margin): on a busy
# developer disk the whole RGW then failed to start. Stop at 1 % instead.
mon_data_avail_crit = 1
mon_data_avail_warn = 2
admin_socket = {d}/run/$cluster-$name.asok
[osd]
osd_data = {d}/osd/$cluster-$id
osd_objectstore = memstore
# Capacity the OSD reports; objects take RAM. Writes stop at 95% full.
memstore_device_bytes = {memstore_bytes}
# osd.0 is already in the initial CRUSH map (osdmaptool), so the OSD need not
# place itself: those commands are the first it sends, and one refused with
# "wrong fsid" (see monmap above) makes the OSD exit.
osd_crush_update_on_start = false
osd_class_update_on_start = false
admin_socket = {d}/run/$cluster-$name.asok
[{RGW_NAME}]
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw_data = {d}/rgw
admin_socket = {d}/run/$cluster-$name.asok
"""


def _read_state(data_dir: Path) -> dict | None:
    data = proc.read_json(data_dir / STATE_FILE)
    if data is None:
        return None
    try:
        str(data["endpoint"])
        data["pids"] = {str(k): int(v) for k, v in data["pids"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return data


def _remove_state(data_dir: Path) -> None:
    (data_dir / STATE_FILE).unlink(missing_ok=True)


def _info_from_state(state: dict) -> RGWInfo:
    return RGWInfo(
        endpoint=state["endpoint"],
        access_key=state.get("access_key", ""),
        secret_key=state.get("secret_key", ""),
        region=state.get("region", "default"),
        data_dir=state.get("data_dir", ""),
        pids=dict(state["pids"]),
    )


def _locked(data_dir: Path, timeout: float) -> contextlib.AbstractContextManager[None]:
    lock = data_dir / LOCK_FILE
    message = f"timed out after {timeout:.0f}s waiting for {lock}: another process is starting or stopping this RGW"
    return proc.file_lock(lock, timeout, lambda: RuntimeError(message), poll=_POLL)


def _logs_for(data_dir: Path, role: str) -> list[Path]:
    log = data_dir / "log"
    names = {
        "mon": [f"mon.{MON_ID}.log", "ceph-mon.out", "ceph-mon-mkfs.out", "monmaptool.out", "osdmaptool.out"],
        "osd": [f"osd.{OSD_ID}.log", "ceph-osd.out", "ceph-osd-mkfs.out", "ceph-osd-create.out"],
        "rgw": [f"{RGW_NAME}.log", "radosgw.out"],
        "admin": ["radosgw-admin.out"],
    }[role]
    return [log / n for n in names]


def _tails(data_dir: Path, role: str) -> str:
    parts = []
    for p in _logs_for(data_dir, role):
        t = proc.log_tail(p, _LOG_TAIL_LINES)
        if t.strip():
            parts.append(f"--- {p} ---\n{t}")
    return "\n".join(parts) or f"(no log output under {data_dir / 'log'})"


def _is_ours(pid: int, data_dir: Path) -> bool:
    """Guard against pid reuse: the process must run with our ceph.conf."""
    conf = str(_conf_path(data_dir))
    return proc.cmdline_matches(pid, lambda args: conf in args, unreadable=False)


def _our_processes(data_dir: Path) -> list[int]:
    """Live processes whose command line names ``data_dir/ceph.conf``."""
    conf = str(_conf_path(data_dir))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        args = proc.cmdline(pid)
        if args and conf in args and proc.pid_alive(pid):
            found.append(pid)
    return found


def _terminate(pids: list[int], timeout: float) -> None:
    """SIGTERM ``pids`` (each alone, not its group), wait up to ``timeout``,
    then SIGKILL what is left."""
    left = proc.terminate([p for p in pids if proc.pid_alive(p)], timeout, group=False, kill_wait=10.0)
    if left:
        raise RuntimeError(f"processes {left} survived SIGKILL")


def _stop_pids(data_dir: Path, pids: dict[str, int], timeout: float) -> None:
    """Stop rgw, then osd, then mon, then anything else still using our conf."""
    for role in ROLES:
        pid = pids.get(role)
        if pid and proc.pid_alive(pid) and _is_ours(pid, data_dir):
            _terminate([pid], timeout)
    # Processes of ours not in the record (lost rgw.json, a start killed
    # midway, a stray radosgw-admin): same order, the rest last.
    order = {"radosgw": 0, "ceph-osd": 1, "ceph-mon": 2}
    groups: dict[int, list[int]] = {}
    for pid in _our_processes(data_dir):
        name = os.path.basename((proc.cmdline(pid) or [""])[0])
        groups.setdefault(order.get(name, 3), []).append(pid)
    for rank in sorted(groups):
        _terminate(groups[rank], timeout)


def _endpoint_answers(endpoint: str, timeout: float = 2.0) -> bool:
    try:
        with _OPENER.open(endpoint + "/", timeout=timeout) as resp:
            resp.read()
        return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer (403 for anonymous) counts
    except (urllib.error.URLError, OSError, ValueError):
        return False


class _Starter:
    """One start attempt; on failure everything it started is stopped."""

    def __init__(self, data_dir: Path, deadline: float) -> None:
        self.data_dir = data_dir
        self.deadline = deadline
        self.env = _env(data_dir)
        self.pids: dict[str, int] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.timings: dict[str, float] = {}
        self._t0 = time.monotonic()

    def remaining(self) -> float:
        return max(0.5, self.deadline - time.monotonic())

    def mark(self, step: str) -> None:
        self.timings[step] = round(time.monotonic() - self._t0, 2)

    def fail(self, msg: str, role: str) -> RuntimeError:
        return RuntimeError(f"RGW in {self.data_dir}: {msg}\n{_tails(self.data_dir, role)}")

    def _out(self, name: str):
        return open(self.data_dir / "log" / f"{name}.out", "ab")

    def run(self, name: str, role: str, *args: str, timeout: float | None = None) -> str:
        """Run a short command to completion; its stderr goes to log/NAME.out."""
        t = min(timeout or self.remaining(), self.remaining())
        with self._out(name) as err:
            try:
                res = subprocess.run(
                    _cmd(self.data_dir, *args),
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    timeout=t,
                    start_new_session=True,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise self.fail(f"`{' '.join(args)}` timed out after {t:.0f}s", role) from None
        out = res.stdout.decode(errors="replace")
        if res.returncode != 0:
            with self._out(name) as err:
                err.write(res.stdout)
            raise self.fail(f"`{' '.join(args)}` failed with exit status {res.returncode}", role)
        return out

    def run_retry(
        self, name: str, role: str, *args: str, attempts: int = 3, ok: Callable[[], bool] | None = None
    ) -> str:
        """``run`` with retries: a client that talks to a monitor which has
        just formed its quorum can send its first command with fsid 0 (seen
        without the ``monmap`` option), and the monitor answers EPERM "wrong
        fsid" ("problem getting command descriptions from mon"). ``ok()`` (if
        given) says whether a failed attempt's effect happened anyway."""
        for attempt in range(1, attempts + 1):
            try:
                return self.run(name, role, *args)
            except RuntimeError:
                if ok is not None and ok():
                    return ""
                if attempt == attempts or time.monotonic() >= self.deadline:
                    raise
                with self._out(name) as err:
                    err.write(f"--- pdfrag: attempt {attempt} failed, retrying\n".encode())
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def spawn(self, role: str, name: str, *args: str) -> subprocess.Popen:
        child = proc.spawn_detached(
            _cmd(self.data_dir, *args), self.data_dir / "log" / f"{name}.out", env=self.env, banner=False
        )
        if role:
            self.pids[role] = child.pid
            self.procs[role] = child
        return child

    def wait(self, child: subprocess.Popen, name: str, role: str, check: bool = True) -> int:
        """Wait for a spawned short command to finish (successfully if ``check``)."""
        try:
            rc = child.wait(timeout=self.remaining())
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise self.fail(f"`{name}` timed out", role) from None
        finally:
            proc.untrack(child.pid)
        if rc != 0 and check:
            raise self.fail(f"`{name}` failed with exit status {rc}", role)
        return rc

    def dead(self) -> str | None:
        """The role of a daemon that has exited, if any."""
        for role, child in self.procs.items():
            if child.poll() is not None:
                proc.untrack(child.pid)
                return role
        return None

    def check_daemons(self) -> None:
        role = self.dead()
        if role is not None:
            child = self.procs[role]
            raise self.fail(f"{role} (pid {child.pid}) exited with status {child.returncode}", role)


# -------------------------------------------------------------------- public


def rgw_status(data_dir: Path) -> RGWInfo | None:
    """The RGW recorded in ``data_dir/rgw.json`` if its mon, osd and rgw
    processes are alive and its endpoint answers HTTP; else None."""
    data_dir = Path(data_dir).resolve()
    state = _read_state(data_dir)
    if state is None:
        return None
    pids = state["pids"]
    if not all(pids.get(r) and proc.pid_alive(pids[r]) and _is_ours(pids[r], data_dir) for r in ROLES):
        return None
    if not _endpoint_answers(state["endpoint"]):
        return None
    return _info_from_state(state)


def start_rgw(
    data_dir: Path,
    port: int | None = None,
    mon_port: int | None = None,
    access_key: str = "pdfrag",
    secret_key: str = "pdfragsecret",
    timeout: float = 90.0,
    region: str = "default",
    memstore_bytes: int = 8 << 30,
) -> RGWInfo:
    """Start a fresh single-node Ceph + RGW under ``data_dir``; return once
    the S3 endpoint answers and the user ``access_key``/``secret_key`` exists.

    Free ports are chosen when ``port``/``mon_port`` are None. Objects live in
    the OSD's memory; ``memstore_bytes`` is the capacity it reports (writes
    fail once it is 95% full). If this ``data_dir`` already runs a healthy RGW
    with the same keys, that one is returned; stale processes of an earlier
    start are stopped first.
    Raises RuntimeError (with log tails) on failure, leaving nothing running.
    """
    missing = _missing_binaries()
    if missing:
        raise RuntimeError(
            f"Ceph binaries not found: {', '.join(missing)}; run scripts/install-system.sh "
            "(apt-get install --no-install-recommends radosgw ceph-mon ceph-osd)"
        )
    data_dir = Path(data_dir).resolve()
    deadline = time.monotonic() + timeout
    with _locked(data_dir, timeout):
        running = rgw_status(data_dir)
        if running is not None:
            if running.access_key == access_key and running.secret_key == secret_key and (
                port is None or running.endpoint.endswith(f":{port}")
            ):
                return running
            raise RuntimeError(
                f"an RGW with other settings already runs in {data_dir} at {running.endpoint}; stop it first"
            )
        state = _read_state(data_dir)
        _stop_pids(data_dir, state["pids"] if state else {}, timeout=10.0)
        _remove_state(data_dir)
        _fresh_dirs(data_dir)

        rgw_port = port or proc.free_port()
        mon_port = mon_port or proc.free_port()
        while mon_port == rgw_port:
            mon_port = proc.free_port()
        fsid = str(uuid.uuid4())
        osd_uuid = str(uuid.uuid4())
        conf = _conf_path(data_dir)

        def write_conf() -> None:
            tmp = conf.with_suffix(".tmp")
            tmp.write_text(_render_conf(data_dir, fsid, mon_port, rgw_port, memstore_bytes))
            os.replace(tmp, conf)

        write_conf()

        s = _Starter(data_dir, deadline)
        try:
            monmap = str(data_dir / "monmap")
            s.run("monmaptool", "mon", "monmaptool", "--create", "--clobber", "--fsid", fsid,
                  "--addv", MON_ID, f"[v1:127.0.0.1:{mon_port}]", monmap)
            # An initial osdmap whose CRUSH map already holds osd.0 (the mon
            # keeps the CRUSH map and takes the fsid from the monmap).
            osdmap = str(data_dir / "osdmap")
            s.run("osdmaptool", "mon", "osdmaptool", "--createsimple", str(OSD_ID + 1), "--clobber", osdmap)
            s.run("ceph-mon-mkfs", "mon", "ceph-mon", "--mkfs", "-i", MON_ID, "--monmap", monmap,
                  "--osdmap", osdmap)
            s.mark("mon_mkfs")
            s.spawn("mon", "ceph-mon", "ceph-mon", "-f", "-i", MON_ID)
            # Both need the monitor; run them side by side. The same uuid in
            # both: the monitor refuses the boot of an OSD whose uuid differs
            # from the one recorded for its id.
            t = str(max(5, int(s.remaining())))
            osd_create = ("ceph", "--connect-timeout", t, "osd", "create", osd_uuid, str(OSD_ID))
            create = s.spawn("", "ceph-osd-create", *osd_create)
            mkfs = s.spawn("", "ceph-osd-mkfs", "ceph-osd", "-i", str(OSD_ID), "--mkfs", "--osd-uuid", osd_uuid)
            if s.wait(create, "ceph osd create", "osd", check=False) != 0:
                # A monitor that exited (e.g. refusing to run on a nearly full
                # disk) is reported with its own log, not as the client's timeout.
                s.check_daemons()
                # Idempotent: the same uuid and id give the same OSD.
                s.run_retry("ceph-osd-create", "osd", *osd_create)
            s.wait(mkfs, "ceph-osd --mkfs", "osd")
            s.check_daemons()
            s.mark("osd_created")
            osd_cmd = ("ceph-osd", "-f", "-i", str(OSD_ID))
            rgw_cmd = ("radosgw", "-f", "-n", RGW_NAME)
            s.spawn("osd", "ceph-osd", *osd_cmd)
            s.spawn("rgw", "radosgw", *rgw_cmd)
            endpoint = f"http://127.0.0.1:{rgw_port}"
            restarts = {"osd": 2, "rgw": 3}
            while not _endpoint_answers(endpoint, timeout=1.0):
                role = s.dead()
                bind_failed = role == "rgw" and "failed to bind address" in proc.log_tail(
                    data_dir / "log" / f"{RGW_NAME}.log", _LOG_TAIL_LINES
                )
                if role in restarts and restarts[role] > 0 and not (bind_failed and port):
                    # Restart a daemon that died while starting: a first mon
                    # command can fail (see run_retry), and a free port we
                    # picked may have been taken meanwhile.
                    restarts[role] -= 1
                    if bind_failed:
                        rgw_port = proc.free_port()
                        endpoint = f"http://127.0.0.1:{rgw_port}"
                        write_conf()
                    name, cmd = ("ceph-osd", osd_cmd) if role == "osd" else ("radosgw", rgw_cmd)
                    with s._out(name) as out:
                        rc = s.procs[role].returncode
                        out.write(f"--- pdfrag: {role} exited with status {rc}, restarting\n".encode())
                    s.spawn(role, name, *cmd)
                    continue
                s.check_daemons()
                if time.monotonic() > deadline:
                    raise s.fail(f"{endpoint} did not answer within {timeout:.0f}s", "rgw")
                time.sleep(_POLL)
            s.mark("endpoint")

            def user_ok() -> bool:
                try:
                    out = s.run("radosgw-admin", "admin", "radosgw-admin", "user", "info", f"--uid={RGW_UID}")
                    keys = json.loads(out).get("keys", [])
                except (RuntimeError, ValueError, AttributeError):
                    return False
                return any(k.get("access_key") == access_key and k.get("secret_key") == secret_key for k in keys)

            s.run_retry("radosgw-admin", "admin", "radosgw-admin", "user", "create", f"--uid={RGW_UID}",
                        "--display-name=pdfrag", f"--access-key={access_key}", f"--secret={secret_key}",
                        ok=user_ok)
            s.mark("user")
            s.check_daemons()
            info = RGWInfo(
                endpoint=endpoint,
                access_key=access_key,
                secret_key=secret_key,
                region=region,
                data_dir=str(data_dir),
                pids={r: s.pids[r] for r in ("mon", "osd", "rgw")},
            )
            proc.write_json_atomic(data_dir / STATE_FILE, {
                **asdict(info),
                "port": rgw_port,
                "mon_port": mon_port,
                "fsid": fsid,
                "started_at": datetime.now(timezone.utc).isoformat(),
                "startup_seconds": s.timings,
            }, mode=0o600)  # holds the secret key
            return info
        except BaseException:
            with contextlib.suppress(Exception):
                _stop_pids(data_dir, s.pids, timeout=5.0)
            raise


def _fresh_dirs(data_dir: Path) -> None:
    for sub in ("mon", "osd", "run", "rgw", "crash"):
        shutil.rmtree(data_dir / sub, ignore_errors=True)
    log, prev = data_dir / "log", data_dir / "log.prev"
    if log.exists():
        shutil.rmtree(prev, ignore_errors=True)
        os.replace(log, prev)
    for f in ("monmap", "osdmap", CONF_FILE):
        with contextlib.suppress(FileNotFoundError):
            (data_dir / f).unlink()
    for sub in ("mon", f"osd/ceph-{OSD_ID}", "run", "log", "rgw", "crash"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)


def stop_rgw(info_or_data_dir: RGWInfo | Path | str, timeout: float = 15.0) -> None:
    """Stop the RGW of a data dir: radosgw, then the OSD, then the monitor
    (SIGTERM, SIGKILL after ``timeout`` seconds each), then any other process
    still using its ceph.conf. Removes ``rgw.json``; keeps data and logs.
    A no-op when nothing runs."""
    if isinstance(info_or_data_dir, RGWInfo):
        data_dir = Path(info_or_data_dir.data_dir).resolve()
        extra = dict(info_or_data_dir.pids)
    else:
        data_dir = Path(info_or_data_dir).resolve()
        extra = {}
    if not data_dir.is_dir():
        return
    if not (_conf_path(data_dir).exists() or (data_dir / STATE_FILE).exists()):
        _stop_pids(data_dir, extra, timeout)  # no cluster here; strays at most
        return
    with _locked(data_dir, timeout + 30):
        state = _read_state(data_dir)
        pids = {**extra, **(state["pids"] if state else {})}
        _stop_pids(data_dir, pids, timeout)
        _remove_state(data_dir)
