"""Actuator networks: log a drive (or simulate one), fit a network that maps joint position error and velocity
history to torque, and run it in C++ inside the physics step (env/actuation/ActuatorNetwork.hpp).

    python -m raisimGymTorch.actuator generate drive.npz         # drive data from the stand-in drive simulation
    python -m raisimGymTorch.actuator fit drive.npz -o drive.net # fit, report the held-out error, write the network
"""
