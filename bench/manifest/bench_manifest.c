/*
 * bench_manifest: what verifying a signed manifest costs on this machine.
 *
 *   bench_manifest [RUNS]     (default 2000)
 *
 * Prints: the median / p90 time and ops/s of tfp_manifest_verify over RUNS runs, with the
 * raw ES256 check alone (tfp_es256_verify_hash) and the payload decode alone for
 * comparison; the stack high-water mark of each, measured by running it on a painted
 * stack of known size (ucontext) minus the same for an empty function; mbedTLS's heap use
 * during a verify (calloc/free interposed: Debian's mbedTLS has no platform memory hooks);
 * and the sizes of the structs a device keeps or puts on its stack.
 * Host figures (x86-64, -O2); a Cortex-M4 -Os build differs, see RESULTS.md.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"

/* ---- heap accounting: glibc's own allocator underneath ---- */

void *__libc_calloc(size_t n, size_t size);
void __libc_free(void *p);

static int heap_counting;
static size_t heap_cur, heap_peak, heap_allocs;

void *
calloc(size_t n, size_t size)
{
	void *p = __libc_calloc(n, size);
	if (heap_counting && p != NULL) {
		heap_cur += malloc_usable_size(p);
		if (heap_cur > heap_peak)
			heap_peak = heap_cur;
		heap_allocs++;
	}
	return p;
}

void
free(void *p)
{
	if (heap_counting && p != NULL)
		heap_cur -= malloc_usable_size(p);
	__libc_free(p);
}

/* ---- the work ---- */

static uint8_t msg[TFP_MANIFEST_PAYLOAD_MAX + TFP_COSE_SIGN1_OVERHEAD];
static size_t msg_len;
static uint8_t payload[TFP_MANIFEST_PAYLOAD_MAX];
static size_t payload_len;
static struct tfp_cose_key key;
static uint8_t hash[TFP_DIGEST_LEN];
static uint8_t sig[TFP_ES256_SIG_LEN];
static volatile int work_rc;

static void
do_verify(void)
{
	struct tfp_manifest m;
	work_rc = tfp_manifest_verify(msg, msg_len, &key, 1, 1000, &m);
}

static void
do_raw(void)
{
	work_rc = tfp_es256_verify_hash(key.point, hash, sig, sizeof(sig));
}

static void
do_decode(void)
{
	struct tfp_manifest m;
	work_rc = tfp_manifest_decode(payload, payload_len, &m);
}

static void
do_nothing(void)
{
	work_rc = 0;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "bench_manifest: cannot read %s\n", path);
		exit(1);
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
setup(void)
{
	struct tfp_cose_signer s;
	struct tfp_cose_sign1_view view;
	struct tfp_manifest m;
	char *pem = slurp(TF_SOURCE_DIR "/tests/interop/keys/release-test.key.pem");
	uint8_t tbs[1024];
	size_t i;

	if (tfp_cose_signer_init_pem(&s, pem) != 0)
		exit(1);
	free(pem);
	memset(&m, 0, sizeof(m));
	memcpy(m.name, "pump-anomaly", 13);
	memcpy(m.version, "1.4.2", 6);
	m.sequence = 42;
	memcpy(m.device_class, "stm32l4-vib", 12);
	m.req.min_ram = 24576;
	m.req.min_flash = 131072;
	m.req.agent_abi = 3;
	m.req.n_sensors = 2;
	memcpy(m.req.sensors[0], "accel3", 7);
	memcpy(m.req.sensors[1], "temp", 5);
	for (i = 0; i < TFP_DIGEST_LEN; i++)
		m.digest[i] = (uint8_t)i;
	m.image_size = 48213;
	m.container_version = 1;
	m.has_expiry = true;
	m.expiry = 4102444800u;
	memcpy(m.key_id, s.pub.kid, TFP_KEY_ID_MAX);
	if (tfp_manifest_encode(&m, payload, sizeof(payload), &payload_len) != 0 ||
	    tfp_manifest_sign(&s, &m, msg, sizeof(msg), &msg_len) != 0)
		exit(1);
	key = s.pub;
	tfp_cose_signer_free(&s);

	/* The raw check gets the same hash and signature the envelope carries. */
	if (tfp_cose_sign1_verify(msg, msg_len, &key, 1, &view) != 0)
		exit(1);
	memcpy(sig, msg + msg_len - TFP_ES256_SIG_LEN, TFP_ES256_SIG_LEN);
	{
		/* Sig_structure built in one piece, as RFC 9052 §4.4 writes it. */
		struct tfp_cbor_reader r;
		struct tfp_cbor_writer w;
		const uint8_t *prot;
		size_t n, prot_len;
		uint64_t tag;
		tfp_cbor_reader_init(&r, msg, msg_len);
		if (tfp_cbor_read_tag(&r, &tag) != 0 || tfp_cbor_read_array(&r, &n) != 0 ||
		    tfp_cbor_read_bytes(&r, &prot, &prot_len) != 0)
			exit(1);
		tfp_cbor_writer_init(&w, tbs, sizeof(tbs));
		tfp_cbor_put_array(&w, 4);
		tfp_cbor_put_textz(&w, "Signature1");
		tfp_cbor_put_bytes(&w, prot, prot_len);
		tfp_cbor_put_bytes(&w, NULL, 0);
		tfp_cbor_put_bytes(&w, view.payload, view.payload_len);
		if (tfp_cbor_writer_finish(&w, &n) != 0 || mbedtls_sha256_ret(tbs, n, hash, 0) != 0)
			exit(1);
	}
	do_raw();
	if (work_rc != 0) {
		fprintf(stderr, "bench_manifest: raw check of the envelope's signature failed\n");
		exit(1);
	}
}

/* ---- timing ---- */

static double
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void
time_it(const char *name, void (*fn)(void), int runs)
{
	double *t = malloc(sizeof(double) * (size_t)runs);
	int i;

	for (i = 0; i < runs / 10 + 1; i++)     /* warm up caches and the branch predictor */
		fn();
	for (i = 0; i < runs; i++) {
		double t0 = now_us();
		fn();
		t[i] = now_us() - t0;
		if (work_rc != 0) {
			fprintf(stderr, "bench_manifest: %s failed: %d\n", name, work_rc);
			exit(1);
		}
	}
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	printf("%-34s runs %6d  median %9.2f us  p90 %9.2f us  min %9.2f us  %9.0f ops/s\n",
	       name, runs, t[runs / 2], t[runs * 9 / 10], t[0], 1e6 / t[runs / 2]);
	free(t);
}

/* ---- stack painting ---- */

#define PAINT_SIZE (256 * 1024)
#define PAINT 0xa5

static uint8_t paint_stack[PAINT_SIZE] __attribute__((aligned(64)));
static ucontext_t main_ctx, work_ctx;
static void (*paint_fn)(void);

static void
trampoline(void)
{
	paint_fn();
}

/* Runs fn on a freshly painted stack and returns how many bytes of it were touched. */
static size_t
stack_used(void (*fn)(void))
{
	size_t i;

	memset(paint_stack, PAINT, sizeof(paint_stack));
	if (getcontext(&work_ctx) != 0)
		exit(1);
	work_ctx.uc_stack.ss_sp = paint_stack;
	work_ctx.uc_stack.ss_size = sizeof(paint_stack);
	work_ctx.uc_link = &main_ctx;
	paint_fn = fn;
	makecontext(&work_ctx, trampoline, 0);
	if (swapcontext(&main_ctx, &work_ctx) != 0)
		exit(1);
	/* The stack grows down: the untouched bytes are at the low end. */
	for (i = 0; i < sizeof(paint_stack) && paint_stack[i] == PAINT; i++)
		;
	return sizeof(paint_stack) - i;
}

int
main(int argc, char **argv)
{
	long runs_arg = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	int runs = runs_arg > 1000000 ? 1000000 : (int)runs_arg;
	size_t base, v, r, d;

	if (runs < 10)
		runs = 10;
	setup();
	printf("signed manifest: %zu bytes (payload %zu bytes)\n\n", msg_len, payload_len);

	time_it("tfp_manifest_verify (full)", do_verify, runs);
	time_it("tfp_es256_verify_hash (ECDSA only)", do_raw, runs);
	time_it("tfp_manifest_decode (payload only)", do_decode, runs * 50);

	base = stack_used(do_nothing);
	v = stack_used(do_verify);
	r = stack_used(do_raw);
	d = stack_used(do_decode);
	printf("\nstack high-water mark (painted %d KiB stack, minus %zu B for an empty call):\n",
	       PAINT_SIZE / 1024, base);
	printf("  tfp_manifest_verify     %6zu B\n", v - base);
	printf("  tfp_es256_verify_hash   %6zu B\n", r - base);
	printf("  tfp_manifest_decode     %6zu B\n", d - base);

	heap_cur = heap_peak = heap_allocs = 0;
	heap_counting = 1;
	do_verify();
	heap_counting = 0;
	printf("\nmbedTLS heap during one tfp_manifest_verify: peak %zu B in use, %zu callocs, "
	       "%zd B left allocated\n", heap_peak, heap_allocs, (ssize_t)heap_cur);

	printf("\nsizeof (device side):\n");
	printf("  struct tfp_manifest          %5zu B  (decoded manifest, caller-owned)\n",
	       sizeof(struct tfp_manifest));
	printf("  struct tfp_cose_key          %5zu B  (one trusted key; may live in flash)\n",
	       sizeof(struct tfp_cose_key));
	printf("  struct tfp_cose_sign1_view   %5zu B\n", sizeof(struct tfp_cose_sign1_view));
	printf("  struct tfp_cbor_reader       %5zu B\n", sizeof(struct tfp_cbor_reader));
	printf("  struct tfp_cbor_item         %5zu B\n", sizeof(struct tfp_cbor_item));
	printf("  mbedtls_ecp_group            %5zu B  (on the verify stack)\n",
	       sizeof(mbedtls_ecp_group));
	printf("  mbedtls_ecp_point            %5zu B\n", sizeof(mbedtls_ecp_point));
	printf("  mbedtls_mpi                  %5zu B\n", sizeof(mbedtls_mpi));
	printf("  mbedtls_sha256_context       %5zu B\n", sizeof(mbedtls_sha256_context));
	printf("  TFP_MANIFEST_PAYLOAD_MAX     %5d B  (largest payload)\n",
	       (int)TFP_MANIFEST_PAYLOAD_MAX);
	return 0;
}
