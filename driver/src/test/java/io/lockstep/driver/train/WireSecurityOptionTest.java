package io.lockstep.driver.train;

import io.lockstep.worker.comm.WireSecurity;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class WireSecurityOptionTest {
    @Test
    void autoFollowsSparksOwnEncryptionAndExplicitModesWin() {
        SparkConf plain = new SparkConf(false);
        SparkConf encrypting = new SparkConf(false).set("spark.network.crypto.enabled", "true");
        assertEquals(WireSecurity.AUTHENTICATE, TrainingJob.wireSecurity("auto", plain));
        assertEquals(WireSecurity.ENCRYPT, TrainingJob.wireSecurity("auto", encrypting));
        assertEquals(WireSecurity.OFF, TrainingJob.wireSecurity("off", encrypting));
        assertEquals(WireSecurity.ENCRYPT, TrainingJob.wireSecurity("encrypt", plain));
        assertEquals(WireSecurity.AUTHENTICATE, TrainingJob.wireSecurity("auth", plain));
        assertThrows(IllegalArgumentException.class, () -> TrainingJob.wireSecurity("tls", plain));
    }
}
