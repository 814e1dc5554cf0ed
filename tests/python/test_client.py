# hecnn.Client against a real `hecnn serve` process on loopback: HTTPS with a certificate
# the openssl tool made (not hecnn), a bearer token, a free port the server picks.
import re
import select
import signal
import subprocess
import time

import numpy as np
import pytest

import hecnn
from conftest import BATCH, HECNN_EXE, assert_matches, reference

TOKEN = "python-test-token-0123456789abcdef"


def read_url(proc, seconds=120):
    """The URL `hecnn serve` prints once it listens; fails if it exits or stays silent."""
    end = time.monotonic() + seconds
    lines = []
    while time.monotonic() < end:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"listening on (https?://\S+)", line)
            if m:
                return m.group(1)
        elif proc.poll() is not None:
            break
    pytest.fail("hecnn serve did not start:\n" + "".join(lines))


@pytest.fixture(scope="module")
def service(model, plan, work):
    d = work / "serve"
    d.mkdir()
    plan.save(d / "plan.json")
    (d / "token").write_text(TOKEN + "\n")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", d / "key.pem",
                    "-out", d / "cert.pem", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    proc = subprocess.Popen([HECNN_EXE, "serve", "--model", model[0], "--plan", d / "plan.json", "--listen", "127.0.0.1:0",
                             "--state-dir", d / "state", "--token-file", d / "token", "--tls-cert", d / "cert.pem", "--tls-key", d / "key.pem",
                             "--threads", "2", "--insecure-test-params"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = read_url(proc)
        assert url.startswith("https://127.0.0.1:")
        yield url, d / "cert.pem"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    assert rc == 0, f"hecnn serve exited with {rc}"


def test_client_infer_matches_torch(service, model, plan, keys, test_images):
    url, cert = service
    client = hecnn.Client(url, token=TOKEN, ca_cert=str(cert), insecure_test_params=True)
    assert client.healthy()
    assert client.plan().to_json() == plan.to_json()
    images = test_images[: BATCH + 5]  # two batches: a full one and 5 images
    seen = []
    logits = client.infer(keys, images, progress=seen.append, poll_seconds=0.05)
    assert_matches(logits, reference(model[1], images))
    assert {s["batch"] for s in seen} == {0, 1} and all(s["batches"] == 2 for s in seen)
    assert [s for s in seen if s["state"] == "done"]


def test_client_wrong_token(service, keys, test_images):
    url, cert = service
    client = hecnn.Client(url, token="not-the-token", ca_cert=str(cert), insecure_test_params=True)
    with pytest.raises(ConnectionError):
        client.infer(keys, test_images[:2])


def test_client_untrusted_certificate(service, keys, test_images, tmp_path):
    url, _ = service
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    tmp_path / "k.pem", "-out", other, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    with pytest.raises(ConnectionError):
        hecnn.Client(url, token=TOKEN, ca_cert=str(other), insecure_test_params=True).plan()


def test_client_keys_for_another_plan(service, model, train_images, test_images):
    url, cert = service
    other = hecnn.Plan.from_onnx(model[0], batch=8, calib=train_images, mean=0.2860, std=0.3530, log_n=11, insecure_test_params=True)
    keys = hecnn.KeySet.generate(other, insecure_test_params=True)
    client = hecnn.Client(url, token=TOKEN, ca_cert=str(cert), insecure_test_params=True)
    with pytest.raises(RuntimeError, match="another plan"):
        client.infer(keys, test_images[:2])


def test_progress_callback_errors_reach_the_caller(service, keys, test_images):
    url, cert = service
    client = hecnn.Client(url, token=TOKEN, ca_cert=str(cert), insecure_test_params=True)

    def stop(status):
        raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt):
        client.infer(keys, test_images[:2], progress=stop)
