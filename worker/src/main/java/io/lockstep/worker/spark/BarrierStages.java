package io.lockstep.worker.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.FlatMapFunction;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

import java.io.Serial;
import java.io.Serializable;
import java.util.Iterator;

/**
 * Java access to Spark's barrier execution mode, which has only a Scala API ({@code RDD.barrier()}).
 * The iterator adapters are written here rather than taken from Scala's converters, whose package
 * differs between Scala 2.12 (Spark 3.5) and 2.13 (Spark 4).
 */
public final class BarrierStages {
    private BarrierStages() {
    }

    /**
     * {@code rdd.barrier().mapPartitions(function)}: one gang-scheduled task per partition; if any task
     * fails, all of them are stopped together.
     */
    public static <T, U> JavaRDD<U> mapPartitions(JavaRDD<T> rdd, FlatMapFunction<Iterator<T>, U> function, Class<U> resultType) {
        ClassTag<U> tag = ClassTag$.MODULE$.apply(resultType);
        return new JavaRDD<>(rdd.rdd().barrier().mapPartitions(new ScalaAdapter<>(function), false, tag), tag);
    }

    private static final class ScalaAdapter<T, U>
            extends AbstractFunction1<scala.collection.Iterator<T>, scala.collection.Iterator<U>> implements Serializable {
        @Serial
        private static final long serialVersionUID = 1L;
        private final FlatMapFunction<Iterator<T>, U> function;

        ScalaAdapter(FlatMapFunction<Iterator<T>, U> function) {
            this.function = function;
        }

        @Override
        public scala.collection.Iterator<U> apply(scala.collection.Iterator<T> input) {
            try {
                return new ToScala<>(function.call(new ToJava<>(input)));
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
        }
    }

    private static final class ToJava<T> implements Iterator<T> {
        private final scala.collection.Iterator<T> scala;

        ToJava(scala.collection.Iterator<T> scala) {
            this.scala = scala;
        }

        @Override
        public boolean hasNext() {
            return scala.hasNext();
        }

        @Override
        public T next() {
            return scala.next();
        }
    }

    private static final class ToScala<T> extends scala.collection.AbstractIterator<T> {
        private final Iterator<T> java;

        ToScala(Iterator<T> java) {
            this.java = java;
        }

        @Override
        public boolean hasNext() {
            return java.hasNext();
        }

        @Override
        public T next() {
            return java.next();
        }
    }
}
