"""A test SMTP server: every message it receives becomes one `.eml` file.

Started by scripts/services/smtp.sh (aiosmtpd on 127.0.0.1). Each message is
written as received (the DATA), preceded by an `X-Envelope-To` header with
the envelope recipients, under a temporary name and then renamed, so that a
reader never sees half a file. Names are unique (time, then a random part).
"""

import argparse
import asyncio
import os
import signal
import time
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        os.makedirs(self.directory, exist_ok=True)
        name = "%s-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime()), uuid.uuid4().hex)
        tmp = os.path.join(self.directory, "." + name + ".tmp")
        final = os.path.join(self.directory, name + ".eml")
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        header = ("X-Envelope-To: %s\r\n" % ", ".join(envelope.rcpt_tos)).encode("utf-8")
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, final)
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2525)
    p.add_argument("--dir", required=True)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    # Messages are UTF-8 (SMTPUTF8) when a client asks; no size limit worth
    # a test's concern.
    controller = Controller(
        Sink(a.dir),
        hostname=a.host,
        port=a.port,
        enable_SMTPUTF8=True,
        data_size_limit=10 * 1024 * 1024,
    )
    controller.start()
    print("smtp sink on %s:%d writing to %s" % (a.host, a.port, a.dir), flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
