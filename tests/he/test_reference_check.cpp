// he::check_against_reference: decrypted logits made from the reference runner's own by
// known changes (a shift that keeps every class, a raised logit that changes one, a label
// that is not the class), so that every figure of the check is known from the change.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "he/he_models.h"
#include "hecnn/he/reference_check.h"
#include "hecnn/nn/reference.h"

using namespace hecnn;
using namespace hecnn::test;

namespace {

struct Case {
    nn::Model model = cryptonets(16, 9);
    std::size_t samples = 12, F = 256, K = 10;
    std::vector<double> x = random_inputs(samples * F, 5);
    std::vector<double> ref;         // the reference runner's logits, sample by sample
    std::vector<std::size_t> cls;    // its classes
    Case() {
        const nn::ReferenceRunner r(model);
        for (std::size_t s = 0; s < samples; ++s) {
            const auto y = r.run(std::span<const double>(x.data() + s * F, F));
            ref.insert(ref.end(), y.begin(), y.end());
            cls.push_back(static_cast<std::size_t>(std::max_element(y.begin(), y.end()) - y.begin()));
        }
    }
};

}  // namespace

TEST(ReferenceCheck, FiguresFollowFromKnownChangesOfTheReferenceLogits) {
    const Case c;
    auto got = c.ref;
    // Sample 0: every logit + 0.125 (its class stays).
    for (std::size_t k = 0; k < c.K; ++k) got[k] += 0.125;
    // Sample 1: another output raised 0.5 above its best: the class changes.
    const std::size_t s1 = 1, best = c.cls[s1], other = (best + 3) % c.K;
    got[s1 * c.K + other] = c.ref[s1 * c.K + best] + 0.5;
    const double raised = got[s1 * c.K + other] - c.ref[s1 * c.K + other];
    // Labels: the reference's classes, but sample 2's is another class.
    std::vector<int> labels(c.cls.begin(), c.cls.end());
    labels[2] = static_cast<int>((c.cls[2] + 1) % c.K);

    std::vector<double> reference;
    const auto r = he::check_against_reference(c.model, c.x, c.samples, got, labels, &reference);
    EXPECT_EQ(r.samples, c.samples);
    EXPECT_EQ(r.agreements, c.samples - 1);
    EXPECT_EQ(r.disagreements, 1u);
    EXPECT_DOUBLE_EQ(r.agreement, static_cast<double>(c.samples - 1) / static_cast<double>(c.samples));
    EXPECT_DOUBLE_EQ(r.max_abs_error, std::max(0.125, raised));
    double max_logit = 0;
    for (double v : c.ref) max_logit = std::max(max_logit, std::fabs(v));
    EXPECT_EQ(r.max_abs_logit, max_logit);
    EXPECT_EQ(r.correct_ref, c.samples - 1);  // sample 2's label is not its class
    EXPECT_EQ(r.correct_he, c.samples - 2);   // nor is sample 1's changed class its label
    EXPECT_DOUBLE_EQ(r.accuracy_ref, static_cast<double>(c.samples - 1) / static_cast<double>(c.samples));
    EXPECT_DOUBLE_EQ(r.accuracy_he, static_cast<double>(c.samples - 2) / static_cast<double>(c.samples));
    EXPECT_EQ(reference, c.ref);
}

TEST(ReferenceCheck, WithoutLabelsNoAccuracy) {
    const Case c;
    const auto r = he::check_against_reference(c.model, c.x, c.samples, c.ref, {});
    EXPECT_EQ(r.agreement, 1.0);
    EXPECT_EQ(r.max_abs_error, 0.0);
    EXPECT_EQ(r.accuracy_he, -1.0);
    EXPECT_EQ(r.accuracy_ref, -1.0);
    EXPECT_EQ(r.correct_he, 0u);
}

TEST(ReferenceCheck, RefusesSizesThatDoNotFit) {
    const Case c;
    const std::vector<int> labels(c.samples, 0);
    const std::span<const double> logits(c.ref);
    EXPECT_THROW(he::check_against_reference(c.model, c.x, c.samples, logits.first(logits.size() - 1), labels), std::invalid_argument);
    EXPECT_THROW(he::check_against_reference(c.model, std::span<const double>(c.x).first(c.F), c.samples, logits, labels), std::invalid_argument);
    EXPECT_THROW(he::check_against_reference(c.model, c.x, c.samples, logits, std::span<const int>(labels).first(3)), std::invalid_argument);
}
