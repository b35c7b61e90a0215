package io.lockstep.driver.data;

import io.lockstep.worker.data.BadRecordPolicy;
import io.lockstep.worker.spark.SerializableHadoopConf;

import java.io.Serializable;
import java.util.Iterator;

/**
 * A piece of a dataset that one executor task reads straight from the filesystem: a group of image
 * files, or a range of fixed-size records of an IDX or CIFAR file. Built on the driver from the
 * listing (names, sizes, offsets; never image bytes) and shipped inside the read task.
 */
interface ReadUnit extends Serializable {
    /** Hosts that hold the unit's bytes, to run its task there; empty when unknown. */
    String[] hosts();

    /** Bytes the unit covers, to size the groups. */
    long bytes();

    /** Reads the unit's records, in listing order, on the executor. */
    Iterator<ReadRecord> read(Context context);

    /** What every read needs besides the unit: the filesystem configuration and the dataset options that apply. */
    record Context(SerializableHadoopConf conf, String uri, BadRecordPolicy policy, boolean fullVerify, int numClasses)
            implements Serializable {
    }
}
