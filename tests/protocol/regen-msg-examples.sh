#!/bin/sh
# Regenerates the device-plane CBOR examples (schemas/examples/msg-*.hex), their diagnostic
# notation, and the seed corpora of the fuzz_msg_* targets (tests/fuzz/corpus/msg_*/) from
# the sample messages in tests/protocol/msg_testutil.c. Run after a deliberate wire change,
# from the source root, with a configured `default` build; then review and commit the diff.
set -eu
cmake --build --preset default --target protocol_msg_examples
TFP_WRITE_EXAMPLES=1 ./build/default/tests/protocol/protocol_msg_examples
/usr/bin/python3 tests/protocol/check_msg_cbor.py --write schemas/examples
