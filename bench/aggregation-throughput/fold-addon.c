/* The N-API candidate of the fold-kernel choice (bench only): sum[i] += w * (double)src[i], compiled by run.sh with
 * gcc -O3 -march=native against the Node headers the machine has. FLOps ships the WebAssembly kernel instead. */
#include <node_api.h>
#include <stddef.h>

static napi_value Fold(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  size_t sum_length, src_length, offset;
  void *sum_data, *src_data;
  napi_value buffer;
  napi_get_typedarray_info(env, argv[0], &type, &sum_length, &sum_data, &buffer, &offset);
  napi_get_typedarray_info(env, argv[1], &type, &src_length, &src_data, &buffer, &offset);
  double weight;
  napi_get_value_double(env, argv[2], &weight);
  double *restrict sum = sum_data;
  const float *restrict src = src_data;
  size_t n = src_length < sum_length ? src_length : sum_length;
  for (size_t i = 0; i < n; i++) sum[i] += weight * (double)src[i];
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "fold", NAPI_AUTO_LENGTH, Fold, NULL, &fn);
  napi_set_named_property(env, exports, "fold", fn);
  return exports;
}
