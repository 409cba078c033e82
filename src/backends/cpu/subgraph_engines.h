// If / Loop / Scan bodies on the CPU backend: each body of a step becomes a standalone graph (its own inputs, then
// the outer values it reads), compiled once on first use for the cpu chain (cpu kernels, the reference for the rest)
// and run by one execution context of its own. The reference kernels of If/Loop/Scan still drive the control flow
// (which branch, how many iterations); only the bodies' nodes move off the double-precision interpreter. A body the
// builder refuses (untyped values, sequences it cannot declare) runs on the reference interpreter as before.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/engine.h"

namespace kiln::cpu {

class SubgraphEngines {
 public:
  // `outer(name)`: the value an outer scope holds under `name`, or null.
  using OuterLookup = std::function<const Value*(const std::string&)>;

  // Runs `body` (a subgraph of a node of `parent`) on `inputs` (the body's declared inputs, in order). Returns false
  // in *ran when the body cannot run as an engine: the caller then runs it on the reference interpreter.
  Result<std::vector<Value>> run(const Graph& parent, const Graph& body, const std::vector<Value>& inputs,
                                 const OuterLookup& outer, int threads, bool* ran);

 private:
  struct Body {
    std::shared_ptr<Engine> engine;
    std::unique_ptr<ExecutionContext> context;
    std::vector<std::string> outer_names;  // engine inputs after the body's own
    bool refused = false;
    std::string why;  // when refused
  };
  Body& compile(const Graph& parent, const Graph& body, const std::vector<Value>& inputs, const OuterLookup& outer);
  Result<std::vector<Value>> refused(const Graph& body, const std::string& why);

  std::map<const Graph*, Body> bodies_;
};

// Whether bodies run as CPU engines (KILN_CPU_SUBGRAPHS=reference keeps them on the interpreter: diagnosis;
// =require makes a body that cannot run as an engine an error instead of an interpreter run: tests).
bool subgraphs_on_cpu();
bool subgraphs_required();

}  // namespace kiln::cpu
