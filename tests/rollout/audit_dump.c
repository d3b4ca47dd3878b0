/*
 * tf-audit-dump STATE_DIR: prints a gateway store's audit log, read-only, one JSON object a
 * line, {"seq": n, "entry": <the entry>}, and checks that the sequence numbers are 0..n-1
 * with no gap and every entry is a JSON object. For the rollout crash test and benchmark
 * (tests/rollout/crash.sh), which must not parse LMDB by hand.
 *
 * It opens the environment with MDB_RDONLY (never creating or changing anything, so it may
 * run while tinyfleetd does) and walks the "audit" database that gateway/src/store.h
 * describes: key = sequence number, 8 bytes big-endian; value = the entry's JSON text.
 *
 * Exit status: 0 no gap, 1 a gap, a bad key or an entry that is not a JSON object (named on
 * stderr), 2 usage, 3 the store cannot be opened. stderr always ends with one summary line:
 *   audit: N entries, sequence 0..N-1, no gap
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lmdb.h>

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
main(int argc, char **argv)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_dbi dbi;
	MDB_val k, v;
	uint64_t n = 0;
	int rc, quiet = 0, bad = 0;

	if (argc == 3 && strcmp(argv[1], "-q") == 0) {
		quiet = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: tf-audit-dump [-q] STATE_DIR\n");
		return 2;
	}
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
	    (rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		fprintf(stderr, "tf-audit-dump: %s: %s\n", argv[1], mdb_strerror(rc));
		if (env != NULL)
			mdb_env_close(env);
		return 3;
	}
	rc = mdb_dbi_open(txn, "audit", 0, &dbi);
	if (rc == MDB_NOTFOUND) {   /* a store that never wrote an audit entry */
		fprintf(stderr, "audit: 0 entries, no gap\n");
		goto done;
	}
	if (rc != 0 || (rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
		fprintf(stderr, "tf-audit-dump: audit database: %s\n", mdb_strerror(rc));
		bad = 3;
		goto done;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
		json_error_t err;
		json_t *e, *line;
		uint64_t seq;

		if (k.mv_size != 8) {
			fprintf(stderr, "tf-audit-dump: key %llu is %zu bytes, not 8\n",
			        (unsigned long long)n, k.mv_size);
			bad = 1;
			break;
		}
		if ((seq = be64(k.mv_data)) != n) {
			fprintf(stderr, "tf-audit-dump: gap: sequence %llu where %llu was due\n",
			        (unsigned long long)seq, (unsigned long long)n);
			bad = 1;
			break;
		}
		e = json_loadb(v.mv_data, v.mv_size, JSON_REJECT_DUPLICATES, &err);
		if (e == NULL || !json_is_object(e)) {
			fprintf(stderr, "tf-audit-dump: entry %llu is not a JSON object (%s)\n",
			        (unsigned long long)n, e == NULL ? err.text : "other type");
			json_decref(e);
			bad = 1;
			break;
		}
		if (!quiet) {
			char *text;
			line = json_pack("{s:I, s:o}", "seq", (json_int_t)seq, "entry", e);
			text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
			json_decref(line);
			if (text == NULL) {
				bad = 3;
				break;
			}
			puts(text);
			free(text);
		} else {
			json_decref(e);
		}
	}
	if (bad == 0 && rc != MDB_NOTFOUND) {
		fprintf(stderr, "tf-audit-dump: reading the audit log: %s\n", mdb_strerror(rc));
		bad = 3;
	}
	if (bad == 0)
		fprintf(stderr, "audit: %llu entries, sequence 0..%lld, no gap\n",
		        (unsigned long long)n, (long long)n - 1);
done:
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return bad;
}
