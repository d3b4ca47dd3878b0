# test_api checks the operator API's answers with the contract's own validator
# (tests/schemas/check_operator_schemas.py, python3-jsonschema).
target_compile_definitions(gateway_api PRIVATE TF_PYTHON="${Python3_EXECUTABLE}")
