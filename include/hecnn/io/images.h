// Images named on a command line, as the input of a given model: the forms `hecnn encrypt
// --images`, `hecnn client --images`, `hecnn plan --calib` and `hecnn bench infer` accept.
//
//   fashion-mnist [DIR] | cifar10 DIR   the data set (Debian's Fashion-MNIST by default)
//   folder DIR                          DIR/<class>/*.png|*.jpg, labels from the folder names
//   FILE…                               .png / .jpg / .jpeg files, labels unknown
//
// Folders and files are resized to the model's H = W and converted to its channels (grey ↔
// RGB, load_image_files); data sets must have the model's shape. Which part is used:
//   inference    the data set's test split; every image of a folder; every file
//   calibration  the data set's TRAINING split; a folder's training split (the stratified,
//                seeded split `hecnn train --dataset folder DIR` trains on); every file
// so that value ranges are never calibrated on the images the model is evaluated on.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "hecnn/io/dataset.h"
#include "hecnn/nn/tensor.h"

namespace hecnn::io {

enum class ImagePart { inference, calibration };

struct NamedImages {
    Dataset data;                    // labels −1 where unknown
    std::vector<std::string> names;  // one per image: "cifar10 test #12", "cats #3", the file name
};

// `sample` > 0 keeps that many images: a stratified, seeded sample of a labelled set, the
// first files of a list. Throws DatasetError (bad spec, unreadable image, wrong shape).
NamedImages load_images(const std::vector<std::string>& spec, const nn::Shape& input_shape, ImagePart part, std::size_t sample = 0);

// The name load_images gives image i of a data set's (fashion-mnist, cifar10) split:
// "cifar10 test #12". Predictions files carry it, so a batch matches its reference by name.
std::string dataset_image_name(const std::string& dataset, bool train_split, std::size_t i);

// "fashion-mnist", "cifar10", "folder": a data set's name (else the words are image files).
bool is_dataset_name(const std::string& word);

}  // namespace hecnn::io
