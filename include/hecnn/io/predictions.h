// Predictions of a model on a batch of images — scores per class, the predicted class, the
// label when known — as the client writes them: `hecnn decrypt` from an encrypted result,
// `hecnn eval --out` from the plaintext model on the same images. One file format (CSV or
// JSON), so the two can be compared image by image (agreement, largest score error): the
// check a user makes that the encrypted model is the model.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace hecnn::io {

struct Predictions {
    std::vector<std::string> classes;  // one name per output (empty: outputs are numbered)
    std::vector<std::string> names;    // one per image
    std::vector<int> labels;           // one per image, −1 when unknown; or empty: none known
    std::vector<double> scores;        // images × outputs, image-major
    std::size_t outputs = 0;

    std::size_t images() const { return names.size(); }
    std::span<const double> scores_of(std::size_t image) const { return {scores.data() + image * outputs, outputs}; }
    int predicted(std::size_t image) const;  // the highest score's index (the first of equals)
    std::string class_name(int c) const;     // classes[c], else the number
    // Labelled images and how many are predicted right.
    std::size_t labelled() const;
    std::size_t correct() const;
};

// Written by the extension: .csv (image,name,predicted,class,label,score_…) or .json.
// Atomic; an existing file is refused unless `replace` (std::runtime_error saying so).
// `source` names what the scores come from (the JSON's "result").
void write_predictions(const std::filesystem::path& path, const Predictions& p, const std::string& source, bool replace);

// Reads a file write_predictions wrote (CSV or JSON, by its extension), validated: the
// header, one row per image numbered 0, 1, …, the same number of finite scores in every
// row, at most kMaxPredictionsBytes. Throws std::runtime_error naming the file and line.
inline constexpr std::size_t kMaxPredictionsBytes = std::size_t{1} << 30;
Predictions read_predictions(const std::filesystem::path& path);

// Image-by-image comparison of two predictions of the same images: matched by name when
// the reference names each of `a`'s images (once), else by position (equal counts).
struct Agreement {
    std::size_t images = 0, same_class = 0;
    bool by_name = false;
    double max_score_error = 0;  // max |a − b| over every image's every score
    double max_abs_score = 0;    // max |b| (the reference's), for a relative reading
    std::size_t worst_image = 0; // where max_score_error is
    double fraction() const { return images ? static_cast<double>(same_class) / static_cast<double>(images) : 0; }
};
// Throws std::invalid_argument if the two differ in outputs, or the images cannot be matched.
Agreement compare_predictions(const Predictions& a, const Predictions& reference);

}  // namespace hecnn::io
