# The drift bundle's fuzz target (seeds: tests/fuzz/corpus/drift, made by
# tests/fuzz/make_drift_corpus.py).
tf_add_fuzz(NAME fuzz_drift SOURCES ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_drift.c LIBS tfa m)
