"""A Streamlit client without a browser: what the browser's JavaScript does on the wire, on asyncio.

``GET /_stcore/health`` (the XSRF cookie), a websocket on ``/_stcore/stream`` (subprotocols
``streamlit, <xsrf token>``), then ``BackMsg`` protobufs out and ``ForwardMsg`` protobufs in
(``streamlit.proto``). A page load is ``BackMsg.rerun_script`` with the page's URL path as ``page_name``
and its query string; the run is over when ``session_status_changed`` says the script stopped. An upload
is the uploader's three steps: ``file_urls_request`` -> ``file_urls_response``, a multipart ``PUT`` to
the upload URL (``X-Xsrftoken`` header), then a rerun whose widget state names the file.

Used by ``bench/server_load.py``; it imports only streamlit's protobufs, websockets (a dependency of
streamlit itself), pandas and pyarrow.
"""
from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

__all__ = ["CHARTS", "ProtocolError", "PageRun", "Session", "http"]

XSRF_COOKIE = "_streamlit_xsrf"
ALERT_ERROR = Alert.Format.Value("ERROR")
FINISHED_EARLY = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
# Element types of a chart on the wire: st.vega_lite_chart (every chart ui.output.chart draws) and
# st.plotly_chart (its fallback for a figure analysis.figures.vega does not translate)
CHARTS = ("vega_lite_chart", "plotly_chart")


class ProtocolError(Exception):
    """The server answered something a browser would also treat as a failure."""


# ---------------------------------------------------------------------------------------------- HTTP on asyncio
async def http(host: str, port: int, method: str, path: str, headers: dict | None = None,
               body: bytes = b"") -> tuple[int, dict[str, list[str]], bytes]:
    """One HTTP/1.1 request on its own connection: (status, headers by lower-case name, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                 f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    got: dict[str, list[str]] = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        got.setdefault(k.strip().lower(), []).append(v.strip())
    return int(status_line.split()[1]), got, content


# ---------------------------------------------------------------------------------------------- the client
@dataclass
class PageRun:
    """What one script run left on the page: elements by delta path, with timings and bytes received."""

    elements: dict[tuple, object] = field(default_factory=dict)
    seconds: float = 0.0
    first_chart: float | None = None
    received: int = 0

    def of(self, *kinds: str) -> list:
        """The page's elements of any of ``kinds`` (``Element`` oneof names, e.g. ``"metric"``), in page order."""
        return [getattr(e, e.WhichOneof("type")) for _, e in sorted(self.elements.items())
                if e.WhichOneof("type") in kinds]

    def metric(self, label: str) -> str:
        for m in self.of("metric"):
            if m.label == label:
                return m.body
        raise ProtocolError(f"no metric {label!r} on the page (metrics: {[m.label for m in self.of('metric')]})")

    def tables(self) -> list[pd.DataFrame]:
        """Every ``st.dataframe`` and ``st.table`` of the page, in page order, decoded from its Arrow IPC bytes
        (a static table's cells are the text it shows, Markdown-escaped: ``ui.output.table(static=True)``)."""
        return [pa.ipc.open_stream(d.arrow_data.data).read_all().to_pandas() for d in self.of("dataframe", "table")
                if d.arrow_data.data]

    def problems(self) -> list[str]:
        """Exceptions and ``st.error`` boxes shown in the page."""
        out = [f"exception {e.type}: {e.message[:200]}" for e in self.of("exception")]
        out += [f"st.error: {a.body[:200]}" for a in self.of("alert") if a.format == ALERT_ERROR]
        return out

    def check(self) -> "PageRun":
        """This run, or :class:`ProtocolError` when the page shows an exception or an ``st.error``."""
        if self.problems():
            raise ProtocolError("; ".join(self.problems()))
        return self


class Session:
    """One browser tab's worth of Streamlit protocol: a websocket session on the server."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.ws = None
        self.cookie = self.token = ""
        self.session_id = ""
        self.page_hash = ""
        self.query = ""

    async def open(self, page: str, query: str = "") -> PageRun:
        """Open ``/page?query`` in a new tab: the health check (XSRF cookie), the websocket, the first run."""
        status, headers, _ = await http(self.host, self.port, "GET", "/_stcore/health")
        if status != 200:
            raise ProtocolError(f"/_stcore/health answered {status}")
        for c in headers.get("set-cookie", []):
            name, _, value = c.split(";", 1)[0].partition("=")
            if name == XSRF_COOKIE:
                self.cookie, self.token = f"{name}={value}", value
        self.ws = await connect(f"ws://{self.host}:{self.port}/_stcore/stream", max_size=None, open_timeout=60,
                                subprotocols=["streamlit", self.token] if self.token else ["streamlit"],
                                additional_headers={"Origin": f"http://{self.host}:{self.port}",
                                                    **({"Cookie": self.cookie} if self.cookie else {})})
        self.query = query
        msg = BackMsg()
        msg.rerun_script.page_name = page
        msg.rerun_script.query_string = query
        msg.rerun_script.context_info.timezone = "UTC"
        msg.rerun_script.context_info.locale = "en-US"
        return await self._run(msg)

    async def rerun(self, widgets=()) -> PageRun:
        """Rerun the current page with ``widgets`` (``WidgetState`` protos), as a widget interaction does."""
        msg = BackMsg()
        msg.rerun_script.page_script_hash = self.page_hash
        msg.rerun_script.query_string = self.query
        for w in widgets:
            msg.rerun_script.widget_states.widgets.add().CopyFrom(w)
        return await self._run(msg)

    async def upload_file(self, name: str, payload: bytes, content_type: str = "text/csv"):
        """Put ``payload`` on the server as the uploader does; returns the ``UploadedFileInfo`` to send."""
        from streamlit.proto.Common_pb2 import UploadedFileInfo

        msg = BackMsg()
        msg.file_urls_request.request_id = uuid.uuid4().hex
        msg.file_urls_request.file_names.append(name)
        msg.file_urls_request.session_id = self.session_id
        await self.ws.send(msg.SerializeToString())
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await self.ws.recv())
            if fm.WhichOneof("type") == "file_urls_response" and \
                    fm.file_urls_response.response_id == msg.file_urls_request.request_id:
                break
        resp = fm.file_urls_response
        if resp.error_msg or not resp.file_urls:
            raise ProtocolError(f"file_urls_request refused: {resp.error_msg}")
        urls = resp.file_urls[0]
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
        path = urllib.parse.urlsplit(urls.upload_url).path
        status, _, text = await http(self.host, self.port, "PUT", path, body=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": self.token,
            "Cookie": self.cookie, "Origin": f"http://{self.host}:{self.port}"})
        if status != 204:
            raise ProtocolError(f"upload PUT answered {status}: {text[:200]!r}")
        info = UploadedFileInfo(name=name, size=len(payload), file_id=urls.file_id)
        info.file_urls.CopyFrom(urls)
        return info

    async def _run(self, msg: BackMsg) -> PageRun:
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        run, finished = PageRun(), False
        while True:
            raw = await self.ws.recv()
            run.received += len(raw)
            fm = ForwardMsg()
            fm.ParseFromString(raw)
            kind = fm.WhichOneof("type")
            if kind == "new_session":                      # every script run starts with one
                self.session_id = fm.new_session.initialize.session_id or self.session_id
                run.elements.clear()
            elif kind == "navigation":
                self.page_hash = fm.navigation.page_script_hash
            elif kind == "page_info_changed":
                self.query = fm.page_info_changed.query_string
            elif kind == "page_not_found":
                raise ProtocolError(f"page not found: {fm.page_not_found.page_name!r}")
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                run.elements[tuple(fm.metadata.delta_path)] = fm.delta.new_element
                if run.first_chart is None and fm.delta.new_element.WhichOneof("type") in CHARTS:
                    run.first_chart = time.perf_counter() - t0
            elif kind == "script_finished":
                finished = fm.script_finished != FINISHED_EARLY
                if fm.script_finished == ForwardMsg.ScriptFinishedStatus.Value("FINISHED_WITH_COMPILE_ERROR"):
                    raise ProtocolError("the page script did not compile")
            elif kind == "session_status_changed" and not fm.session_status_changed.script_is_running and finished:
                run.seconds = time.perf_counter() - t0
                return run

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
