// Entry point of the @dqa/native-cpu addon: registers every kernel on the module's exports and
// the thread controls. Each source file registers its own functions (Init* in common.h).
#include <omp.h>
#include <pthread.h>
#include <signal.h>

#include <cstring>

#include "common.h"

namespace dqa {

static_assert(sizeof(sigset_t) <= 256, "sigset_t is larger than ScopedSignalBlock's storage");

namespace {

// Every signal that may arrive asynchronously; faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP)
// stay deliverable, as blocking them would turn a crash report into a silent kill.
sigset_t AsyncSignals() {
  sigset_t set;
  sigfillset(&set);
  for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&set, s);
  return set;
}

}  // namespace

ScopedSignalBlock::ScopedSignalBlock() {
  static const sigset_t set = AsyncSignals();
  pthread_sigmask(SIG_BLOCK, &set, reinterpret_cast<sigset_t*>(saved_));
}

ScopedSignalBlock::~ScopedSignalBlock() { pthread_sigmask(SIG_SETMASK, reinterpret_cast<sigset_t*>(saved_), nullptr); }

void BlockSignalsInTeam() {
  const sigset_t set = AsyncSignals();
#pragma omp parallel
  {
    if (omp_get_thread_num() != 0) pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
}

namespace {

// setThreads(n): caps the OpenMP team of this thread's later kernels (oneDNN's included).
Napi::Value SetThreadsJs(const Napi::CallbackInfo& info) {
  const int64_t n = IntArg(info, 0, "setThreads");
  if (n < 1) throw Napi::RangeError::New(info.Env(), "native-cpu setThreads: the thread count must be at least 1, got " + std::to_string(n));
  omp_set_num_threads(static_cast<int>(n));
  // A larger team creates threads, which inherit this thread's (unblocked) mask.
  BlockSignalsInTeam();
  return info.Env().Undefined();
}

// getThreads(): the team size kernels started from this thread use.
Napi::Value GetThreadsJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

// cpuCount(): the processors OpenMP may use (the default team size without OMP_NUM_THREADS).
Napi::Value CpuCountJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), omp_get_num_procs());
}

}  // namespace
}  // namespace dqa

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  dqa::BlockSignalsInTeam();
  exports.Set("setThreads", Napi::Function::New(env, dqa::SetThreadsJs, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, dqa::GetThreadsJs, "getThreads"));
  exports.Set("cpuCount", Napi::Function::New(env, dqa::CpuCountJs, "cpuCount"));
  dqa::InitElementwise(env, exports);
  dqa::InitReduce(env, exports);
  dqa::InitDnnl(env, exports);
  dqa::InitFused(env, exports);
  dqa::InitQuant(env, exports);  // fused quantizer kernels (native/quant_binding.cc)
  return exports;
}

NODE_API_MODULE(dqa_native_cpu, Init)
