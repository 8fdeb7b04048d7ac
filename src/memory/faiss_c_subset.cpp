/* The part of FAISS's C API that longctx uses, for systems whose FAISS ships the C API's
 * headers but not its library (Debian's libfaiss-dev 1.7.3 installs
 * /usr/include/faiss/c_api/ and a libfaiss.a without a single faiss_* C symbol). CMake
 * compiles this file only when no libfaiss_c is found. Each function is declared by the
 * official header included below, so a signature that drifts fails to compile; each one
 * catches every exception and returns nonzero with the message kept for
 * faiss_get_last_error(), as the real C API does. */
#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/index_factory.h>

#include <exception>
#include <string>

extern "C" {
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
}

namespace {
thread_local std::string last_error;

template <class F> int guarded(F f) {
    try {
        f();
        return 0;
    } catch (const std::exception &e) {
        last_error = e.what();
        return -2;
    } catch (...) {
        last_error = "unknown exception in FAISS";
        return -1;
    }
}

faiss::Index *cpp(FaissIndex *p) { return reinterpret_cast<faiss::Index *>(p); }
const faiss::Index *cpp(const FaissIndex *p) { return reinterpret_cast<const faiss::Index *>(p); }
} // namespace

extern "C" {

const char *faiss_get_last_error() { return last_error.c_str(); }

int faiss_index_factory(FaissIndex **p_index, int d, const char *description, FaissMetricType metric) {
    return guarded([&] {
        *p_index = reinterpret_cast<FaissIndex *>(faiss::index_factory(d, description, static_cast<faiss::MetricType>(metric)));
    });
}

void faiss_Index_free(FaissIndex *index) { delete cpp(index); }
int faiss_Index_d(const FaissIndex *index) { return cpp(index)->d; }
int faiss_Index_is_trained(const FaissIndex *index) { return cpp(index)->is_trained; }
idx_t faiss_Index_ntotal(const FaissIndex *index) { return cpp(index)->ntotal; }

int faiss_Index_train(FaissIndex *index, idx_t n, const float *x) { return guarded([&] { cpp(index)->train(n, x); }); }
int faiss_Index_add(FaissIndex *index, idx_t n, const float *x) { return guarded([&] { cpp(index)->add(n, x); }); }

int faiss_Index_search(const FaissIndex *index, idx_t n, const float *x, idx_t k, float *distances, idx_t *labels) {
    return guarded([&] { cpp(index)->search(n, x, k, distances, labels); });
}

int faiss_ParameterSpace_new(FaissParameterSpace **space) {
    return guarded([&] { *space = reinterpret_cast<FaissParameterSpace *>(new faiss::ParameterSpace()); });
}

void faiss_ParameterSpace_free(FaissParameterSpace *space) { delete reinterpret_cast<faiss::ParameterSpace *>(space); }

int faiss_ParameterSpace_set_index_parameter(const FaissParameterSpace *space, FaissIndex *index, const char *name, double value) {
    return guarded([&] { reinterpret_cast<const faiss::ParameterSpace *>(space)->set_index_parameter(cpp(index), name, value); });
}

} // extern "C"
