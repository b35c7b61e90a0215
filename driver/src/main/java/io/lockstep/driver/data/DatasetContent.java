package io.lockstep.driver.data;

import io.lockstep.models.InputShape;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.RecordFormat;
import io.lockstep.worker.data.SkippedRecord;

import java.util.List;

/**
 * What a format reader found, before the options decide the model's input: the records of both
 * splits, the class names (index = label), and the images' own shape.
 *
 * @param format      e.g. {@code idx}, {@code cifar-10}, {@code image-folder}
 * @param nativeShape the images' own channels and size, or null when they differ (image folders)
 * @param skipped     records left out under {@code --bad-records skip}
 * @param survey      sizes and channels seen (image folders), or null for fixed-size formats
 */
record DatasetContent(String format, List<String> classNames, RecordFormat recordFormat, List<LabeledRecord> train,
                      List<LabeledRecord> test, InputShape nativeShape, List<SkippedRecord> skipped, ImageSurvey survey) {
}
