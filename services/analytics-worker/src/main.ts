import { runService } from '@crm/runtime';
import { analyticsWorkerService } from './service';

runService('analytics-worker', analyticsWorkerService);
