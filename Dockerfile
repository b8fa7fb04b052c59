# daas on a fresh Debian 12: installs the Debian packages (scripts/setup.sh),
# builds, installs (binary to /usr/local/bin, profiles to
# /usr/local/share/daas/configs) and by default runs the smoke search.
#   docker build -t daas .
#   docker run --rm daas                                  # daas search --profile smoke
#   docker run --rm -v "$PWD/runs:/runs" daas search --out /runs/s1
FROM debian:12
COPY . /src/daas
WORKDIR /src/daas
RUN bash scripts/setup.sh \
 && cmake -S . -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDAAS_BUILD_TESTS=OFF -DDAAS_BUILD_BENCH=OFF \
 && cmake --build /tmp/build \
 && cmake --install /tmp/build \
 && rm -rf /tmp/build
WORKDIR /runs
ENTRYPOINT ["daas"]
CMD ["search", "--profile", "smoke"]
