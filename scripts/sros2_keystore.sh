#!/usr/bin/env bash
# Make an SROS2 keystore for the cabin graph: DDS authentication, encryption and signed
# permissions (docs/security.md). Needs sros2's `ros2 security`, i.e. a ROS 2 install: sros2 is
# not on PyPI, and the pip-installed Fast DDS is built without its security plugins anyway.
#
#   scripts/sros2_keystore.sh KEYSTORE
#
# Enclaves (one identity each):
#   /emotionaldan_ros/cabin  the graph: emotionaldan-cabin, or every node of `ros2 launch`
#   /emotionaldan_ros/tools  emotionaldan-bag, the planner, ros2 topic / param / lifecycle
# sros2's default permissions let an enclave publish and subscribe every topic: authenticated
# processes are trusted alike (see docs/security.md for what that does not protect).
set -euo pipefail

keystore=${1:?usage: scripts/sros2_keystore.sh KEYSTORE}
if ! command -v ros2 >/dev/null 2>&1 || ! ros2 security --help >/dev/null 2>&1; then
  echo "sros2_keystore: 'ros2 security' not found. SROS2 needs a ROS 2 install with sros2" \
       "(apt install ros-\$ROS_DISTRO-sros2); it is not on PyPI, and the pip-installed Fast DDS" \
       "has no security plugins. See docs/security.md." >&2
  exit 2
fi

ros2 security create_keystore "$keystore"
for enclave in /emotionaldan_ros/cabin /emotionaldan_ros/tools; do
  ros2 security create_enclave "$keystore" "$enclave"
done
# Private keys: readable by their owner only. The CA keys under private/ are only needed to add
# enclaves later: keep them off the vehicle.
find "$keystore" -name '*key.pem' -exec chmod 600 {} +

cat <<EOT
keystore ready: $keystore
  export ROS_SECURITY_KEYSTORE=$(cd "$keystore" && pwd)
  export ROS_SECURITY_ENABLE=true
  export ROS_SECURITY_STRATEGY=Enforce
  export ROS_SECURITY_ENCLAVE_OVERRIDE=/emotionaldan_ros/cabin   # graph processes
  export ROS_SECURITY_ENCLAVE_OVERRIDE=/emotionaldan_ros/tools   # bag tools, planner, ros2 CLI
EOT
