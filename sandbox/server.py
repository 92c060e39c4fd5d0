"""Our own partner: the server side of both specs, for the demo, the tests and the benchmarks.
(Over 400 lines: both partner APIs, server side, in one standard-library module: no Django needed.)

It verifies signatures strictly, answers deterministically (a lead's status derives from its hash,
so a demo shows every status), remembers whom it accepted (they then check as status 1, "ours"),
and can be told to add latency or faults. Standard library only; it never touches the database.
"""

import json
import re
import socket
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from partners.protocols import qunadai_push, yrxd_collision
from partners.protocols.signing import collision_sign, compact_json, md5_hex, push_sign

PUSH_PATH = "/api/push/user"
MD5 = re.compile(r"[0-9a-f]{32}")
CONTROL_PATH = "/__sandbox__/config"
STATS_PATH = "/__sandbox__/stats"


class Fault:
    NONE = ""
    TIMEOUT = "timeout"  # process the request, then answer too late
    HTTP_500 = "http_500"
    RESET = "reset"  # drop the connection without answering
    GARBAGE = "garbage"  # 200 with a body that is not JSON
    HTTP_404 = "http_404"  # a wrong URL or a gateway's error page
    DROP_HASHES = "drop_hashes"  # batch answers leave out every third hash
    ODD_STATUS = "odd_status"  # statuses outside the spec (user status 9, push status "2")
    REFUSE = "refuse"  # the spec's failure answer for every call
    RATE_LIMIT = "rate_limit"  # HTTP 429 "请求过于频繁"
    QUOTA = "quota"  # the spec's failure answer saying the daily quota is used up
    OVERSIZED = "oversized"  # the right answer behind 2 MB of leading blanks (a runaway proxy)
    # A chatty partner, its JSON escaped to ASCII: msg repeats the checked hash, or the pushed
    # person's name, phone and ID number; the H5 link carries the phone's MD5; of three pushes
    # one is accepted, one refused as a known user, one answered "processing" (status 2).
    ECHO = "echo"
    # The partner's answer to missing or wrong headers, for every call: a push gets status "0"
    # (the same code as a rejected lead) with a message that is no signature error; the code and
    # message are SandboxConfig.refusal_answers'.
    HEADERS = "headers"
    ALL = (
        NONE,
        TIMEOUT,
        HTTP_500,
        RESET,
        GARBAGE,
        HTTP_404,
        DROP_HASHES,
        ODD_STATUS,
        REFUSE,
        RATE_LIMIT,
        QUOTA,
        OVERSIZED,
        ECHO,
        HEADERS,
    )


@dataclass
class SandboxConfig:
    """``credentials`` maps a utmSource (collision) or a clientId (push) to its secret key."""

    credentials: dict[str, str] = field(default_factory=dict)
    latency_ms: int = 0
    fault: str = Fault.NONE
    fault_remaining: int | None = None  # the fault hits this many more requests (None: all)
    timeout_delay_s: float = 3.0
    max_clock_skew_s: int = 300
    rate_limit_rps: float | None = None  # answer 429 beyond this many requests per second
    # What Fault.HEADERS answers, per protocol: (status, msg).
    refusal_answers: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {
            "push": ("0", "请求头缺失或错误"),
            "collision": ("9999", "请求头缺失或错误"),
        }
    )


def user_status_for(user_md5: str) -> tuple[int, int]:
    """A fixed (status, marketable) per hash: ~70% new, 10% ours, 12% other channel, 8% anomaly."""
    digest = user_md5 if len(user_md5) == 32 else md5_hex(user_md5.encode())
    try:
        value = int(digest[:8], 16)
    except ValueError:
        value = int(md5_hex(digest.encode())[:8], 16)
    bucket = value % 100
    if bucket < 70:
        return 0, int((value // 100) % 10 < 8)
    if bucket < 80:
        return 1, 0
    if bucket < 92:
        return 2, 0
    return 3, 0


class SandboxPartner:
    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        # Per partner account (its key): phone MD5s accepted through our channel. Only an
        # accepted push adds a key (a check reads with .get), so the tests can trust it.
        self.registered: dict[str, set[str]] = defaultdict(set)
        # Every push accepted, in order: (clientId, phone MD5, ID number MD5), what a test can
        # compare with the leads it meant to push.
        self.accepted_pushes: list[tuple[str, str, str]] = []
        # How each well-formed push was spelled (JSON type names of data and the integer
        # fields), and how many hashes each valid batch check carried: no personal data.
        self.push_shapes: list[dict[str, str]] = []
        self.batch_sizes: list[int] = []
        # Every hash a check asked about: what a test compares with who must never be asked.
        self.asked_hashes: set[str] = set()
        self.request_times: list[tuple[str, float]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        sandbox = self

        class Handler(_Handler):
            partner = sandbox

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox", daemon=True
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self, host: str, port: int) -> None:
        self.start(host, port)
        self._thread.join()

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def push_url(self) -> str:
        return self.base_url + PUSH_PATH

    def calls(self, path: str) -> int:
        with self.lock:
            return sum(1 for seen, _ in self.request_times if seen == path)

    def inject(self, fault: str, *, times: int | None = None) -> None:
        """Make the next ``times`` requests (or all, with ``None``) suffer ``fault``."""
        with self.lock:
            self.config.fault, self.config.fault_remaining = fault, times

    def max_rate(self, window_s: float = 1.0) -> int:
        """The most requests that arrived within any ``window_s`` seconds."""
        with self.lock:
            times = sorted(at for _, at in self.request_times)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= window_s:
                start += 1
            best = max(best, end - start + 1)
        return best

    def record_arrival(self, path: str) -> str:
        """Record a request; return the fault it suffers (the budget of injected faults shrinks)."""
        now = time.monotonic()
        with self.lock:
            self.request_times.append((path, now))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            limit = self.config.rate_limit_rps
            if (
                limit
                and sum(1 for _, at in self.request_times[-int(limit) - 1 :] if now - at < 1.0)
                > limit
            ):
                return Fault.RATE_LIMIT
            fault = self.config.fault
            if fault and self.config.fault_remaining is not None:
                if self.config.fault_remaining <= 0:
                    return Fault.NONE
                self.config.fault_remaining -= 1
            return fault

    def record_departure(self) -> None:
        with self.lock:
            self.in_flight -= 1

    # -- the two protocols --------------------------------------------------------------------
    def collision(self, payload: dict, *, batch: bool, fault: str = Fault.NONE) -> dict:
        if fault == Fault.HEADERS:  # before any check: the partner's gateway answers it
            code, message = self.config.refusal_answers["collision"]
            return {"status": code, "msg": message, "data": None}
        if not isinstance(payload, dict):
            return _collision_failure("请求体不是 JSON 对象")
        # The spec does not say how null or "" are signed: a client must leave such fields out.
        if empty := sorted(name for name, value in payload.items() if value in (None, "")):
            return _collision_failure(f"参数不能为 null 或空字符串：{','.join(empty)}")
        utm_source = payload.get("utmSource")
        key = self.config.credentials.get(utm_source) if isinstance(utm_source, str) else None
        if key is None:
            return _collision_failure("未知渠道 utmSource")
        sign = payload.get("sign")
        params = {name: value for name, value in payload.items() if name != "sign"}
        if not isinstance(sign, str) or sign != collision_sign(params, key):
            return _collision_failure("签名验证失败")
        if fault == Fault.REFUSE:
            return _collision_failure("处理失败")
        if fault == Fault.QUOTA:
            return _collision_failure("超出当日额度")
        if batch:
            hashes = payload.get("userMd5List")
            if not isinstance(hashes, list) or not 0 < len(hashes) <= yrxd_collision.MAX_BATCH:
                return _collision_failure("userMd5List 必须是 1 到 1000 个哈希")
            if not _all_md5(hashes):
                return _collision_failure("userMd5List 中有不是小写 MD5 的值")
            if payload.get("userMd5Type") != yrxd_collision.PHONE_MD5:
                return _collision_failure("userMd5Type 必须为 0（目前仅支持手机号 MD5）")
            with self.lock:
                self.batch_sizes.append(len(hashes))
            if fault == Fault.DROP_HASHES:
                hashes = [h for index, h in enumerate(hashes) if index % 3 != 2]
            # In its own order, not the request's: a client must map answers back by hash.
            answers = [self._answer(h, key) for h in sorted(hashes)]
            if fault == Fault.ODD_STATUS:
                answers[0]["status"] = "9"
            message = f"成功：{hashes[0]}" if fault == Fault.ECHO else "成功"
            return {"status": "0000", "msg": message, "data": answers}
        hashes = [payload[name] for name in ("phoneMd5", "idNoMd5") if name in payload]
        if not hashes:
            return _collision_failure("phoneMd5 与 idNoMd5 至少要有一个")
        if not _all_md5(hashes):
            return _collision_failure("phoneMd5 或 idNoMd5 不是小写 MD5")
        user_md5 = hashes[0]  # the phone's first, as the spec echoes it
        answer = self._answer(str(user_md5), key)
        if fault == Fault.ODD_STATUS:
            answer["status"] = "9"
        message = f"成功：{user_md5}" if fault == Fault.ECHO else "成功"
        return {"status": "0000", "msg": message, "data": answer}

    def _answer(self, user_md5: str, key: str) -> dict:
        with self.lock:
            self.asked_hashes.add(user_md5.lower())
            ours = user_md5.lower() in self.registered.get(key, ())
        status, marketable = (1, 0) if ours else user_status_for(user_md5.lower())
        return {"status": str(status), "userMd5": user_md5, "marketable": marketable}

    def push(self, headers, body: bytes, *, fault: str = Fault.NONE) -> dict:
        if fault == Fault.HEADERS:  # before any check: the partner's gateway answers it
            code, message = self.config.refusal_answers["push"]
            return {"status": code, "msg": message, "data": None}
        client_id, client_time, signature = (
            headers.get(name) for name in ("clientId", "clientTime", "s")
        )
        if not (client_id and client_time and signature):
            return _push_failure("签名验证失败：缺少 clientId、clientTime 或 s 请求头")
        key = self.config.credentials.get(client_id)
        if key is None:
            return _push_failure("未知的 clientId")
        if signature != push_sign(client_id, client_time, body, key):
            return _push_failure("签名验证失败")
        if (
            not client_time.isdigit()
            or abs(time.time() * 1000 - int(client_time)) > self.config.max_clock_skew_s * 1000
        ):
            return _push_failure("clientTime 已过期")
        if fault == Fault.REFUSE:
            return _push_failure("处理失败")
        if fault == Fault.QUOTA:
            return _push_failure("超出当日额度")
        if fault == Fault.ODD_STATUS:
            return {"status": "2", "msg": "处理中", "data": None}
        try:
            data = json.loads(body)["data"]
            user = json.loads(data) if isinstance(data, str) else data
            phone = user["phone"]
            missing = [
                name for name in qunadai_push.PushProfile.__dataclass_fields__ if name not in user
            ]
        except (ValueError, KeyError, TypeError):
            return _push_failure("请求体格式错误")
        with self.lock:
            self.push_shapes.append(
                {
                    name: type(value).__name__
                    for name, value in (
                        ("data", data),
                        ("socialInsurancePayed", user.get("socialInsurancePayed")),
                        ("zhimaScore", user.get("zhimaScore")),
                    )
                }
            )
        if missing:
            return _push_failure(f"缺少字段：{','.join(missing)}")
        if invalid := _invalid_push_fields(user):
            return _push_failure(f"字段取值无效：{','.join(invalid)}")
        phone_md5 = yrxd_collision.phone_md5(str(phone))
        who = f"{user['name']}（手机 {phone}，身份证 {user['idNum']}）"
        if fault == Fault.ECHO and (kind := int(phone_md5[10:12], 16) % 3):
            if kind == 1:
                return _push_failure(f"用户已存在：{who}")
            return {"status": "2", "msg": f"处理中：{who}", "data": None}
        with self.lock:
            if phone_md5 in self.registered[key]:
                return _push_failure("用户已存在")
            self.registered[key].add(phone_md5)
            self.accepted_pushes.append(
                (client_id, phone_md5, yrxd_collision.id_number_md5(str(user["idNum"])))
            )
        if fault == Fault.ECHO:
            link = f"{self.base_url}/h5/{phone_md5}"
            return {"status": "1", "msg": f"推送成功：{who}", "data": {"appDownloadUrl": link}}
        download_url = (
            None if int(phone_md5[8:10], 16) % 4 == 0 else f"{self.base_url}/h5/{phone_md5[:12]}"
        )
        return {"status": "1", "msg": "推送成功", "data": {"appDownloadUrl": download_url}}


def _all_md5(values: list) -> bool:
    return all(isinstance(value, str) and MD5.fullmatch(value) for value in values)


def _invalid_push_fields(user: dict) -> list[str]:
    """The spec's enumerations and integers (as numbers or as their text)."""
    checks = {
        "eduLevel": lambda v: v in qunadai_push.EDU_LEVELS,
        "emergencyRelation": lambda v: v in qunadai_push.EMERGENCY_RELATIONS,
        "socialInsurancePayed": lambda v: str(v) in ("0", "1"),
        "zhimaScore": lambda v: not isinstance(v, bool) and str(v).isascii() and str(v).isdigit(),
    }
    return [name for name, valid in checks.items() if not valid(user[name])]


def _collision_failure(message: str) -> dict:
    return {"status": "9999", "msg": message, "data": None}


def _push_failure(message: str) -> dict:
    return {"status": "0", "msg": message, "data": None}


class _Handler(BaseHTTPRequestHandler):
    partner: SandboxPartner
    protocol_version = "HTTP/1.1"  # keep-alive, like a real partner behind a load balancer

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
        # body until the client's delayed ACK (40 ms), which would dwarf the latency we simulate.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(
        self, format, *args
    ):  # quiet: the tests and the demo read our audit log instead
        pass

    def do_GET(self):
        if self.path == STATS_PATH:
            with self.partner.lock:
                counts: dict[str, int] = {}
                for path, _ in self.partner.request_times:
                    counts[path] = counts.get(path, 0) + 1
            stats = {
                "requests": counts,
                "max_rate_per_second": self.partner.max_rate(),
                "max_in_flight": self.partner.max_in_flight,
            }
            return self._reply(HTTPStatus.OK, compact_json(stats).encode())
        self._reply(HTTPStatus.NOT_FOUND, b"not found")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        partner = self.partner
        if self.path == CONTROL_PATH:
            return self._configure(body)
        fault = partner.record_arrival(self.path)
        try:
            self._answer_partner_call(body, fault)
        finally:
            partner.record_departure()

    def _answer_partner_call(self, body: bytes, fault: str):
        partner, config = self.partner, self.partner.config
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        if fault == Fault.RESET:
            return self._reset()
        if fault == Fault.RATE_LIMIT:
            return self._reply(
                HTTPStatus.TOO_MANY_REQUESTS,
                compact_json(_collision_failure("请求过于频繁")).encode(),
            )
        if fault == Fault.HTTP_500:
            return self._reply(
                HTTPStatus.INTERNAL_SERVER_ERROR, b"<html>500 Internal Server Error</html>"
            )
        if fault == Fault.HTTP_404:
            return self._reply(HTTPStatus.NOT_FOUND, b"<html>404 Not Found</html>")
        if fault == Fault.GARBAGE:
            return self._reply(HTTPStatus.OK, b"<html>upstream gateway says hello</html>")
        if self.path in (yrxd_collision.SINGLE_PATH, yrxd_collision.BATCH_PATH):
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            answer = partner.collision(
                payload, batch=self.path == yrxd_collision.BATCH_PATH, fault=fault
            )
        elif self.path == PUSH_PATH:
            answer = partner.push(self.headers, body, fault=fault)
        else:
            return self._reply(HTTPStatus.NOT_FOUND, b"not found")
        if fault == Fault.TIMEOUT:
            time.sleep(config.timeout_delay_s)
        padding = b" " * 2_000_000 if fault == Fault.OVERSIZED else b""
        text = (
            json.dumps(answer, separators=(",", ":"))
            if fault == Fault.ECHO
            else compact_json(answer)
        )
        self._reply(HTTPStatus.OK, padding + text.encode("utf-8"))

    def _configure(self, body: bytes):
        try:
            changes = json.loads(body)
            config = self.partner.config
            config.latency_ms = int(changes.get("latency_ms", config.latency_ms))
            fault = changes.get("fault", config.fault)
            if fault not in Fault.ALL:
                raise ValueError(fault)
            self.partner.inject(fault, times=changes.get("times"))
            if "rate_limit_rps" in changes:
                config.rate_limit_rps = changes["rate_limit_rps"]
            for protocol, (code, message) in changes.get("refusal_answers", {}).items():
                if protocol not in config.refusal_answers:
                    raise ValueError(protocol)
                config.refusal_answers[protocol] = (str(code), str(message))
        except (ValueError, TypeError, AttributeError):
            return self._reply(HTTPStatus.BAD_REQUEST, b"bad config")
        self._reply(HTTPStatus.OK, b"ok")

    def _reply(self, status: HTTPStatus, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading (an oversized answer)

    def _reset(self):
        # SO_LINGER 0: close with an RST, the way a crashed peer or a dropping proxy does.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()
