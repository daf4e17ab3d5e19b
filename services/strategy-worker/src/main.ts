import { runService } from '@crm/runtime';
import { strategyWorkerService } from './service';

runService('strategy-worker', strategyWorkerService);
