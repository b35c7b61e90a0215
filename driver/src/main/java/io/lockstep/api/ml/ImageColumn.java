package io.lockstep.api.ml;

import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.data.ImageBatchDecoder;
import io.lockstep.worker.data.ImageTransform;
import io.lockstep.worker.data.LabeledRecord;
import io.lockstep.worker.data.RecordFormat;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructType;

import java.io.Serializable;
import java.util.Arrays;
import java.util.List;

/**
 * An image column of a DataFrame: encoded file bytes (PNG, JPEG, … as {@code binary}, e.g. the
 * {@code content} of Spark's {@code binaryFile} source) or Spark's {@code image} struct (the
 * {@code image} source: BGR pixels, row-major, interleaved). Turns cells into Lockstep records and
 * chooses the matching executor-side decoder; checks the DataFrame before any stage starts.
 */
final class ImageColumn implements Serializable {
    private static final List<String> IMAGE_FIELDS = List.of("origin", "height", "width", "nChannels", "mode", "data");

    private final boolean struct;
    private final ImageTransform transform;

    private ImageColumn(boolean struct, ImageTransform transform) {
        this.struct = struct;
        this.transform = transform;
    }

    /** The column {@code name} of {@code schema}, which must hold encoded bytes or the image struct. */
    static ImageColumn of(StructType schema, String name, String param, ImageTransform transform) {
        if (!Arrays.asList(schema.fieldNames()).contains(name)) {
            throw new IllegalArgumentException(param + ": the DataFrame has no column '" + name + "' (columns: "
                    + String.join(", ", schema.fieldNames()) + "); set " + param + " to the image column");
        }
        DataType type = schema.apply(name).dataType();
        if (type instanceof BinaryType) {
            return new ImageColumn(false, transform);
        }
        if (type instanceof StructType fields && Arrays.asList(fields.fieldNames()).containsAll(IMAGE_FIELDS)) {
            return new ImageColumn(true, transform);
        }
        throw new IllegalArgumentException(param + ": column '" + name + "' is " + type.simpleString()
                + "; give encoded image bytes (binary) or Spark's image struct (spark.read().format(\"image\"))");
    }

    boolean sameKind(ImageColumn other) {
        return struct == other.struct;
    }

    String kind() {
        return struct ? "Spark's image struct" : "encoded image bytes";
    }

    /** Checks that {@code name} is a numeric label column (e.g. the output of a StringIndexer). */
    static void checkLabel(StructType schema, String name) {
        if (!Arrays.asList(schema.fieldNames()).contains(name)) {
            throw new IllegalArgumentException("labelCol: the DataFrame has no column '" + name
                    + "'; index string labels first (StringIndexer) and set labelCol to its output column");
        }
        DataType type = schema.apply(name).dataType();
        if (!(type instanceof NumericType)) {
            throw new IllegalArgumentException("labelCol: column '" + name + "' is " + type.simpleString()
                    + ", not a class index; index it first with a StringIndexer");
        }
    }

    /** The record for a row's image cell (label {@code label}; 0 when predicting). */
    LabeledRecord record(Row row, int index, int label) {
        if (!struct) {
            return new LabeledRecord(label, (byte[]) row.get(index), null);
        }
        Row image = row.getStruct(index);
        int height = image.getInt(image.fieldIndex("height"));
        int width = image.getInt(image.fieldIndex("width"));
        int channels = image.getInt(image.fieldIndex("nChannels"));
        String origin = image.getString(image.fieldIndex("origin"));
        if (height != transform.height() || width != transform.width() || (channels != 1 && channels != 3 && channels != 4)
                || (channels == 1) != (transform.channels() == 1)) {
            throw new IllegalArgumentException("image " + origin + " is " + width + "x" + height + " with " + channels
                    + " channels, the model takes " + transform.width() + "x" + transform.height() + " with "
                    + transform.channels() + "; resize the images or set imageWidth, imageHeight and channels");
        }
        byte[] bgr = (byte[]) image.get(image.fieldIndex("data"));
        int out = transform.channels();
        int plane = height * width;
        byte[] planar = new byte[out * plane];
        for (int p = 0; p < plane; p++) {
            for (int c = 0; c < out; c++) {
                // Spark stores BGR(A); Lockstep's raw records are planar RGB.
                planar[c * plane + p] = bgr[p * channels + (out == 1 ? 0 : 2 - c)];
            }
        }
        return new LabeledRecord(label, planar, origin);
    }

    ImageBatchDecoder decoder(int numClasses) {
        RecordFormat format = struct ? RecordFormat.raw(transform.channels(), transform.height(), transform.width())
                : RecordFormat.encoded();
        return new ImageBatchDecoder(format, transform, numClasses, BadRecordPolicy.FAIL);
    }

    /** The prediction columns appended to {@code schema}. */
    static StructType withPredictions(StructType schema, String predictionCol, String probabilityCol) {
        return schema.add(predictionCol, DataTypes.DoubleType, false)
                .add(probabilityCol, org.apache.spark.ml.linalg.SQLDataTypes.VectorType(), false);
    }
}
