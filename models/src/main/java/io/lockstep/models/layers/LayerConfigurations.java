package io.lockstep.models.layers;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Collection;

/**
 * What Lockstep's layer configurations, which extend DL4J's, need to do the way DL4J's own do: wire a
 * new layer into its network, and copy a configuration whose builder DL4J keeps private.
 */
public final class LayerConfigurations {
    private LayerConfigurations() {
    }

    /**
     * {@code layer}, wired as DL4J's own {@code instantiate} wires its layers: listeners, index, its view of
     * the network's parameters and its parameter table (initialized into that view when
     * {@code initializeParams}), configuration.
     */
    public static <L extends Layer> L wire(L layer, ParamInitializer initializer, NeuralNetConfiguration conf,
                                           Collection<TrainingListener> listeners, int index, INDArray paramsView,
                                           boolean initializeParams) {
        layer.setListeners(listeners);
        layer.setIndex(index);
        layer.setParamsViewArray(paramsView);
        layer.setParamTable(initializer.init(conf, paramsView, initializeParams));
        layer.setConf(conf);
        return layer;
    }

    /**
     * Copies every instance field that {@code type} and its superclasses declare from {@code from} to
     * {@code to}. DL4J's builders have private constructors, so a field copy is the only way to carry every
     * setting of one configuration class into another (including settings a later DL4J version adds).
     */
    public static <T> void copyFields(Class<T> type, T from, T to) {
        for (Class<?> declaring = type; declaring != Object.class; declaring = declaring.getSuperclass()) {
            for (Field field : declaring.getDeclaredFields()) {
                if (Modifier.isStatic(field.getModifiers())) {
                    continue;
                }
                try {
                    field.setAccessible(true);
                    field.set(to, field.get(from));
                } catch (ReflectiveOperationException | RuntimeException e) {
                    throw new IllegalStateException("cannot copy " + type.getSimpleName() + " field "
                            + declaring.getName() + "." + field.getName()
                            + " (is a DL4J version other than 1.0.0-M2.1 on the class path?)", e);
                }
            }
        }
    }
}
