"""A small OpenAI-compatible chat-completions server on 127.0.0.1 with scripted replies, for the tests.

The scenario of a request is the hand box's x0 in the prompt (`[<x0>, ...`) for VLM requests, and the
scenario tag inside the fields (hand_caption "tag:<name>") for summary requests. Run as a script it serves
until killed and prints its port.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD = {
    "hand_caption": "tag:{name}",
    "object_category": "mug",
    "object_shape": "cylinder",
    "object_size": "medium",
    "interaction_type": "power grasp",
    "intention": "drink",
    "grasp_taxonomy": "Medium Wrap",
    "hand_pose_description": "fingers wrap the handle",
}
SCENARIOS = {
    10: "good",
    11: "prose",
    12: "broken",
    13: "offlist",
    14: "flaky",
    15: "slow",
    16: "badsummary",
    17: "unknowngrasp",
    18: "good2",
    19: "good3",
    20: "good4",
    21: "good5",
}


def _fields(name, **change):
    f = {k: (v.format(name=name) if isinstance(v, str) else v) for k, v in GOOD.items()}
    f.update(change)
    return json.dumps(f)


class Handler(BaseHTTPRequestHandler):
    calls: Counter = Counter()
    delay = 0.0

    def log_message(self, *args):  # keep test output clean
        pass

    def _reply(self, status, content):
        body = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                ],
            }
            if status == 200
            else {"error": {"message": content}}
        ).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def do_POST(self):
        data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        content = data["messages"][0]["content"]
        text = content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)
        images = 0 if isinstance(content, str) else sum(c["type"] == "image_url" for c in content)
        if self.delay:
            time.sleep(self.delay)
        if images:  # the VLM step
            x0 = int(re.search(r"green box \[(\d+)", text).group(1))
            name = SCENARIOS.get(x0, "good")
            Handler.calls[f"vlm:{name}"] += 1
            if name == "flaky" and Handler.calls["vlm:flaky"] == 1:
                return self._reply(500, "temporarily broken")
            if name == "slow":
                time.sleep(2.0)
            if name == "prose":
                return self._reply(200, f"Sure! Here it is:\n```json\n{_fields(name)}\n```\nHope this helps.")
            if name == "broken":
                return self._reply(200, '{"hand_caption": "oops", "object_category": ')
            if name == "offlist":
                return self._reply(200, _fields(name, grasp_taxonomy="medium wrapp", extra_key=1))
            if name == "unknowngrasp":
                return self._reply(200, _fields(name, grasp_taxonomy="banana grip", object_size=7))
            return self._reply(200, _fields(name))
        name = re.search(r"tag:(\w+)", text).group(1)
        Handler.calls[f"summary:{name}"] += 1
        side = re.search(r'starts with "A (\w+) hand"', text).group(1)
        if name == "badsummary" and Handler.calls["summary:badsummary"] == 1:
            return self._reply(200, "The hand holds a mug.")
        return self._reply(200, f'"A {side} hand grips a medium mug to drink from it, using a medium wrap grasp."')


def start(delay: float = 0.0):
    """Start a server in a thread; return (server, base_url)."""
    Handler.calls = Counter()
    Handler.delay = delay
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


if __name__ == "__main__":
    server, url = start(float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
    print(url, flush=True)
    threading.Event().wait()
