"""The graph under SROS2 (DDS security), and its clear refusal where DDS has no security plugins.

pip-installed Fast DDS is built without `-DSECURITY=ON`: there, `ROS_SECURITY_ENABLE=true` must
end start-up with one clear line pointing to docs/security.md (no traceback, no silent
insecure run with `Enforce`). On a ROS 2 install with sros2 and a security-enabled DDS,
`test_graph_under_sros2` makes a keystore with scripts/sros2_keystore.sh, runs the graph in its
enclave and checks that an authenticated probe receives the emotions while a probe without
security sees neither the topics nor the data.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .runner import Cabin, params_file

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
KEYSTORE_SCRIPT = ROOT / "scripts" / "sros2_keystore.sh"
ENCLAVE_FILES = (
    "identity_ca.cert.pem",
    "cert.pem",
    "key.pem",
    "permissions_ca.cert.pem",
    "governance.p7s",
    "permissions.p7s",
)


def _secure_env(keystore: Path, enclave: str) -> dict[str, str]:
    return dict(
        os.environ,
        ROS_SECURITY_ENABLE="true",
        ROS_SECURITY_STRATEGY="Enforce",
        ROS_SECURITY_KEYSTORE=str(keystore),
        ROS_SECURITY_ENCLAVE_OVERRIDE=enclave,
    )


def _dds_has_security(tmp_path: Path) -> bool:
    """Whether this DDS can create a secure participant at all (a placeholder keystore is
    enough to tell: without plugins node creation fails before reading the files)."""
    enclave = tmp_path / "probe_ks" / "enclaves" / "probe"
    enclave.mkdir(parents=True)
    for name in ENCLAVE_FILES:
        (enclave / name).write_text("placeholder\n")
    code = "import rclpy; rclpy.init(); rclpy.create_node('probe')"
    res = subprocess.run(
        [sys.executable, "-c", code],
        env=_secure_env(tmp_path / "probe_ks", "/probe"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return "security libraries" not in res.stderr


def test_security_without_dds_plugins_is_one_clear_error(tmp_path):
    if _dds_has_security(tmp_path):
        pytest.skip("this DDS has security plugins: test_graph_under_sros2 covers it")
    keystore = tmp_path / "probe_ks"
    env = _secure_env(keystore, "/probe") | {"ROS_DOMAIN_ID": str(random.randint(91, 99))}
    res = subprocess.run(
        [sys.executable, "-m", "emotionaldan_ros.cabin", "--no-camera", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "cannot start the graph" in res.stderr and "docs/security.md" in res.stderr
    assert "no security plugins" in res.stderr and "Traceback" not in res.stderr


def test_keystore_script_explains_what_is_missing_without_sros2(tmp_path):
    if shutil.which("ros2"):
        pytest.skip("ros2 is installed here: test_graph_under_sros2 runs the script")
    res = subprocess.run(
        ["bash", str(KEYSTORE_SCRIPT), str(tmp_path / "ks")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "docs/security.md" in res.stderr, res.stderr
    assert not (tmp_path / "ks").exists()


PROBE = """
import sys, time
import rclpy
from rclpy.node import Node
from emotionaldan_msgs.msg import EmotionArray
from emotionaldan_ros.nodes.common import RESULT_QOS
rclpy.init()
node = Node("security_probe")
got = []
node.create_subscription(EmotionArray, "/cabin/emotion", got.append, RESULT_QOS)
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline and not got:
    rclpy.spin_once(node, timeout_sec=0.1)
topics = [name for name, _ in node.get_topic_names_and_types()]
print(f"received {len(got)} sees_emotion {'/cabin/emotion' in topics}")
"""


@pytest.mark.slow
def test_graph_under_sros2(tmp_path):
    if not shutil.which("ros2"):
        pytest.skip("no ros2 CLI (sros2): SROS2 needs a ROS 2 install, see docs/security.md")
    if not _dds_has_security(tmp_path):
        pytest.skip("this DDS has no security plugins (pip Fast DDS): see docs/security.md")
    keystore = tmp_path / "keystore"
    subprocess.run(["bash", str(KEYSTORE_SCRIPT), str(keystore)], check=True, timeout=300)
    domain = random.randint(91, 99)
    cabin = Cabin(
        "--config",
        str(params_file(tmp_path)),
        domain=domain,
        cwd=tmp_path,
        environ=_secure_env(keystore, "/emotionaldan_ros/cabin"),
    )
    try:
        assert cabin.wait_for_line("frame ", 120), cabin.log
        probe_env = {"ROS_DOMAIN_ID": str(domain), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
        secure = subprocess.run(
            [sys.executable, "-c", PROBE, "20"],
            env=_secure_env(keystore, "/emotionaldan_ros/tools") | probe_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "sees_emotion True" in secure.stdout, secure.stdout + secure.stderr
        assert "received 0" not in secure.stdout, secure.stdout
        insecure_env = {k: v for k, v in os.environ.items() if not k.startswith("ROS_SECURITY")}
        insecure = subprocess.run(
            [sys.executable, "-c", PROBE, "5"],
            env=insecure_env | probe_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "received 0 sees_emotion False" in insecure.stdout, insecure.stdout
    finally:
        cabin.signal(2)
        cabin.finish(30)
        cabin.close()
