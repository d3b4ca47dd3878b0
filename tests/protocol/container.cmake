# Fuzz target for the model container parser (corpus: tests/fuzz/corpus/container/, made
# by tools/model/make_fuzz_seeds.py).
tf_add_fuzz(NAME fuzz_container SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_container.c
            LIBS tfp)
