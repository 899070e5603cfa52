/* fuzz_json.c - libFuzzer target for the dataset.json parser of
   examples/latents.h.  Build and run: make fuzz-json (FUZZ_SECONDS=60).
   The input is the JSON text (1,000 classes).  Properties, any violation
   aborts: a failure names the file; a success lists at least one sample,
   every name a safe relative path and every label in [0, 1000). */
#define IG_IMPLEMENTATION
#include "../../ig.h"
#include "../../examples/latents.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lat_dataset d;
    size_t i;
    memset(&d, 0, sizeof d);
    if (lat_parse_dataset_json(&d, "fuzz/dataset.json", (const char *)data, size, 1000) != 0) {
        if (!strstr(lat_error(), "fuzz/dataset.json")) abort();
        lat_close(&d);
        return 0;
    }
    if (d.n == 0) abort();
    for (i = 0; i < d.n; i++)
        if (!lat__safe_path(d.names + d.name_at[i]) || d.labels[i] < 0 || d.labels[i] >= 1000) abort();
    lat_close(&d);
    return 0;
}
