import Hummingbird
import GRDB
import Crypto
import ArgumentParser
import ServiceLifecycle
