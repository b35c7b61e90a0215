package io.lockstep.api;

import io.lockstep.models.InputShape;

import java.util.Objects;

/**
 * Where the images and labels of a DataFrame are, and the input shape they are decoded to, for
 * {@link Lockstep#fit(org.apache.spark.sql.Dataset, ImageColumns)}.
 *
 * @param imageCol encoded image bytes ({@code binary}, e.g. the {@code content} of Spark's
 *                 {@code binaryFile} source) or Spark's {@code image} struct
 * @param labelCol numeric class index (e.g. a StringIndexer's output; its metadata names the classes)
 * @param shape    channels × height × width the images are decoded to; image structs must already have
 *                 this height and width
 */
public record ImageColumns(String imageCol, String labelCol, InputShape shape) {
    public ImageColumns {
        Objects.requireNonNull(imageCol, "imageCol");
        Objects.requireNonNull(labelCol, "labelCol");
        Objects.requireNonNull(shape, "shape");
    }

    /** Columns {@code imageCol} and {@code labelCol}, decoded to {@code channels × height × width}. */
    public static ImageColumns of(String imageCol, String labelCol, int channels, int height, int width) {
        return new ImageColumns(imageCol, labelCol, new InputShape(channels, height, width));
    }
}
