import { BACKENDS } from './backends.js';
import { runStoreContract } from './contract.js';
import { describeWithService, serviceUp } from './services.js';

for (const backend of BACKENDS) {
  if (backend.service === undefined) {
    runStoreContract(backend.name, () => backend.create());
  } else {
    const up = await serviceUp(backend.service);
    describeWithService(backend.service, up, backend.name, () =>
      runStoreContract(backend.name, () => backend.create()),
    );
  }
}
