#include "daas/nas/network.h"

#include <torch/torch.h>

#include "test_support.h"

namespace daas::nas {
namespace {

TEST(NetworkCIFAR, DartsV2ParameterCountMatchesDarts) {
  NetworkCIFAR net(NetworkOptions(36, 20, builtin_genotype("DARTS_V2")).auxiliary(true));
  const auto size = count_parameters(*net);
  int64_t aux = 0;
  for (const auto& item : net->named_parameters()) {
    if (item.key().rfind("auxiliary_head.", 0) == 0) aux += item.value().numel();
  }
  EXPECT_EQ(size - aux, 3349342);
}

}  // namespace
}  // namespace daas::nas
