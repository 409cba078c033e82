// Conversions between the KServe v2 gRPC messages (kserve_v2.proto) and the InferenceServer's structs.
#pragma once
#include <grpcpp/support/status.h>

#include "server/grpc/kserve_v2.pb.h"
#include "server/inference_server.h"

namespace kiln::server::grpc_convert {

// ServerCode -> gRPC code as inference_server.h specifies (kQueueFull/kPayloadTooLarge -> RESOURCE_EXHAUSTED).
grpc::StatusCode grpc_code(ServerCode code);
grpc::Status to_grpc_status(const ServerStatus& status);

// Fills `out` from a ModelInferRequest, moving raw tensor bytes out of `in` (which the caller owns and no
// longer needs). Checks only what the wire format itself can get wrong: raw_input_contents count, known
// datatypes, non-negative shapes, typed contents matching the datatype and the shape's element count. The
// InferenceServer validates everything against the model.
ServerStatus request_from_proto(inference::ModelInferRequest& in, InferRequest* out);

// Fills `out` from a response, moving each output's bytes into raw_output_contents.
void response_to_proto(InferResponse&& in, inference::ModelInferResponse* out);

void metadata_to_proto(const ModelMetadata& in, inference::ModelMetadataResponse* out);
void stats_to_proto(const ModelStats& in, inference::ModelStatistics* out);
// Kiln's config message is field-for-field wire compatible with inference.ModelConfig: re-encode it.
bool config_to_proto(const ModelConfig& in, inference::ModelConfig* out);

}  // namespace kiln::server::grpc_convert
