"""The example application's own unit tests (run by the quickstart's testing stage)."""

from __future__ import annotations

import json
import os
import threading
import unittest
import urllib.request

from app import serve  # type: ignore[import-not-found]


class HelloTest(unittest.TestCase):
    def setUp(self) -> None:
        os.environ["HELLO_VERSION"] = "1.2.3"
        self.server = serve(0)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def tearDown(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def test_health_reports_ok_and_the_version(self) -> None:
        with urllib.request.urlopen(f"{self.base}/health", timeout=5) as response:
            self.assertEqual(json.load(response), {"status": "ok", "version": "1.2.3"})

    def test_root_says_hello(self) -> None:
        with urllib.request.urlopen(f"{self.base}/", timeout=5) as response:
            self.assertEqual(json.load(response)["message"], "hello")


if __name__ == "__main__":
    unittest.main()
